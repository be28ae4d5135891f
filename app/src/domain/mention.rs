//! Mentions: `@username` of a member names them. Usernames may hold spaces
//! and are not unique, so a mention is found against the chat's members, not
//! parsed on its own.

use uuid::Uuid;

/// Whether `text` may mention anyone; the send path looks members up only then.
pub fn may_mention(text: &str) -> bool {
    text.contains('@')
}

/// The members `text` mentions, in the order first named. A mention is `@`
/// at the start or after a character that is not a letter, digit or `_` (so
/// `ann@example.com` names nobody), then a member's username compared without
/// case (the longest that matches wins), then the end, whitespace or
/// punctuation.
pub fn mentioned<'a>(text: &str, members: impl IntoIterator<Item = (Uuid, &'a str)>) -> Vec<Uuid> {
    let mut members: Vec<(Uuid, &str)> = members
        .into_iter()
        .filter(|(_, username)| !username.is_empty())
        .collect();
    members.sort_by_key(|(_, username)| std::cmp::Reverse(username.chars().count()));
    let mut found = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && !previous.is_some_and(is_word);
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        if let Some((user_id, _)) = members.iter().find(|(_, name)| names(rest, name))
            && !found.contains(user_id)
        {
            found.push(*user_id);
        }
    }
    found
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `rest` starts with `username` (without case) followed by a boundary.
fn names(rest: &str, username: &str) -> bool {
    let mut text = rest.chars();
    for expected in username.chars() {
        match text.next() {
            Some(c) if c == expected || c.to_lowercase().eq(expected.to_lowercase()) => {}
            _ => return false,
        }
    }
    !text.next().is_some_and(is_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Uuid, Uuid, Uuid) {
        (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3))
    }

    #[test]
    fn a_member_named_with_at_is_mentioned_once_in_order() {
        let (ann, bob, _) = ids();
        let members = [(ann, "Ann"), (bob, "bob")];
        assert_eq!(
            mentioned("hi @BOB and @ann, @bob!", members),
            vec![bob, ann]
        );
        assert_eq!(mentioned("@ann", members), vec![ann]);
        assert_eq!(mentioned("(@ann)", members), vec![ann]);
    }

    #[test]
    fn emails_longer_names_and_strangers_are_not_mentions() {
        let (ann, bob, _) = ids();
        let members = [(ann, "ann"), (bob, "bob")];
        assert!(mentioned("mail ann@example.com", members).is_empty());
        assert!(mentioned("@annabel is not here", members).is_empty());
        assert!(mentioned("@carol", members).is_empty());
        assert!(mentioned("ann bob", members).is_empty());
        assert!(mentioned("@", members).is_empty());
    }

    #[test]
    fn the_longest_matching_username_wins() {
        let (ann, ann_lee, _) = ids();
        let members = [(ann, "Ann"), (ann_lee, "Ann Lee")];
        assert_eq!(mentioned("thanks @ann lee!", members), vec![ann_lee]);
        assert_eq!(mentioned("thanks @ann, lee", members), vec![ann]);
    }

    #[test]
    fn usernames_beyond_ascii_compare_without_case() {
        let (zoe, _, _) = ids();
        assert_eq!(mentioned("@ÉLODIE ça va", [(zoe, "élodie")]), vec![zoe]);
        assert_eq!(mentioned("👋@élodie", [(zoe, "élodie")]), vec![zoe]);
    }

    #[test]
    fn only_text_with_at_may_mention() {
        assert!(may_mention("hi @ann"));
        assert!(!may_mention("hi ann"));
    }
}
