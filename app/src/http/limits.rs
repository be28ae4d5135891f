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

use crate::domain::{chat, user};

/// No NUL characters (Postgres cannot store them; `check_length` refuses them).
const NO_NUL: &str = "^[^\\u0000]*$";
/// Not blank: some character outside Unicode's White_Space set (what
/// `str::trim` removes), and no NUL (`check_content`).
pub(super) const NOT_BLANK: &str = "^[^\\u0000]*[^\\u0000\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$";
/// A history cursor: a ULID in Crockford base32, either case (128 bits, so
/// the first character is 0-7), or empty (no cursor, as in the original).
pub(super) const CURSOR: &str = "^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25})?$";

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
