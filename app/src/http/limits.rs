//! The schemas of request fields the handlers limit, built from the same
//! constants the checks use and attached to the fields themselves (body
//! fields: `#[schema(schema_with = ...)]`; query parameters, whose
//! `schema_with` would drop their description and `required`:
//! `#[param(value_type = ..., inline)]`), so a renamed field keeps its
//! limits. Limits that come from the settings are written by
//! `openapi::constrain`.

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{Object, ObjectBuilder, RefOr, Type, schema::Schema, schema::SchemaType},
};

use std::{collections::BTreeMap, sync::LazyLock};

use crate::domain::{chat, user};

/// No NUL characters (Postgres cannot store them; `check_length` refuses them).
const NO_NUL: &str = "^[^\\u0000]*$";
/// Not blank: some character outside Unicode's White_Space set (what
/// `str::trim` removes), and no NUL (`check_content`).
pub(super) const NOT_BLANK: &str = "^[^\\u0000]*[^\\u0000\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$";
/// A history cursor: a ULID in Crockford base32, either case (128 bits, so
/// the first character is 0-7), or empty (no cursor, as in the original).
pub(super) const CURSOR: &str = "^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25})?$";
/// A message's ULID, as `messages::parse_ulid` accepts it: Crockford
/// base32, either case, the first character 0-7.
pub(super) const ULID: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";

fn text(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

/// A string that may also be null.
fn optional_text(pattern: &str) -> ObjectBuilder {
    text(pattern).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

pub fn username() -> Object {
    text(NO_NUL).max_length(Some(user::USERNAME_MAX)).build()
}

/// At sign-up: the shape `Email::parse` accepts.
pub fn email() -> Object {
    text(user::EMAIL_PATTERN)
        .max_length(Some(user::EMAIL_MAX))
        .build()
}

/// The lookup's `email`: any text up to an address's length.
pub struct EmailQuery;

impl PartialSchema for EmailQuery {
    fn schema() -> RefOr<Schema> {
        text(NO_NUL)
            .max_length(Some(user::EMAIL_MAX))
            .build()
            .into()
    }
}

impl ToSchema for EmailQuery {}

pub fn password() -> Object {
    text(NO_NUL)
        .min_length(Some(user::PASSWORD_MIN))
        .max_length(Some(user::PASSWORD_MAX))
        .build()
}

/// A form has no null: the field is absent, empty or `password`.
pub fn grant_type() -> Object {
    text("^(password)?$").build()
}

pub fn title() -> Object {
    optional_text(NO_NUL)
        .min_length(Some(1))
        .max_length(Some(chat::TITLE_MAX))
        .build()
}

pub fn description() -> Object {
    optional_text(NO_NUL)
        .max_length(Some(chat::DESCRIPTION_MAX))
        .build()
}

/// Its maximum length is a setting (`openapi::constrain`).
pub fn content() -> Object {
    text(NOT_BLANK).min_length(Some(1)).build()
}

/// The history's `cursor`.
pub struct Cursor;

impl PartialSchema for Cursor {
    fn schema() -> RefOr<Schema> {
        text(CURSOR).build().into()
    }
}

impl ToSchema for Cursor {}

/// A message's `ulid` in a path.
pub struct Ulid;

impl PartialSchema for Ulid {
    fn schema() -> RefOr<Schema> {
        text(ULID).build().into()
    }
}

impl ToSchema for Ulid {}

/// A message's ULID in a body.
pub fn message_ulid() -> Object {
    text(ULID).build()
}

/// A send's `reply_to`: a message's ULID, or null.
pub fn reply_to() -> Object {
    optional_text(ULID).build()
}

/// One emoji as `check_emoji` accepts it: every emoji with its skin tones,
/// fully qualified or not (each `U+FE0F` may be left out where Unicode
/// lists that form). Percent-encoded in the path, as any text.
pub struct Emoji;

impl PartialSchema for Emoji {
    fn schema() -> RefOr<Schema> {
        text(&EMOJI)
            .description(Some("One emoji, such as 👍 or 🎉 (skin tones included)"))
            .build()
            .into()
    }
}

impl ToSchema for Emoji {}

/// Every form `emojis::get` knows, as one pattern (a trie, so shared starts
/// are written once).
pub(super) static EMOJI: LazyLock<String> = LazyLock::new(|| {
    let mut trie = Trie::default();
    for form in emoji_forms() {
        trie.insert(form.chars());
    }
    format!("^{}$", trie.pattern())
});

/// Each emoji (every skin tone too) and each of its forms with some `U+FE0F`
/// left out that `emojis::get` also knows.
pub(super) fn emoji_forms() -> impl Iterator<Item = String> {
    emojis::iter()
        .flat_map(|emoji| {
            let tones = emoji.skin_tones().into_iter().flatten();
            std::iter::once(emoji).chain(tones.filter(move |tone| tone.as_str() != emoji.as_str()))
        })
        .flat_map(|emoji| {
            let qualified = emoji.as_str();
            let selectors = qualified.matches('\u{fe0f}').count();
            (0..1u32 << selectors).filter_map(move |dropped| {
                let mut n = 0;
                let form: String = qualified
                    .chars()
                    .filter(|c| {
                        if *c != '\u{fe0f}' {
                            return true;
                        }
                        n += 1;
                        dropped & (1 << (n - 1)) == 0
                    })
                    .collect();
                emojis::get(&form).is_some().then_some(form)
            })
        })
}

#[derive(Default)]
struct Trie {
    end: bool,
    next: BTreeMap<char, Trie>,
}

impl Trie {
    fn insert(&mut self, mut chars: impl Iterator<Item = char>) {
        match chars.next() {
            Some(c) => self.next.entry(c).or_default().insert(chars),
            None => self.end = true,
        }
    }

    /// What may follow this node (`end`: or nothing).
    fn pattern(&self) -> String {
        let branches: Vec<String> = self
            .next
            .iter()
            .map(|(c, next)| {
                // `*` (of the keycap) is the only pattern character in an emoji.
                let c = if *c == '*' {
                    "\\*".to_owned()
                } else {
                    c.to_string()
                };
                c + &next.pattern()
            })
            .collect();
        match (branches.as_slice(), self.end) {
            ([], _) => String::new(),
            ([one], false) => one.clone(),
            (many, end) => format!("(?:{}){}", many.join("|"), if end { "?" } else { "" }),
        }
    }
}
