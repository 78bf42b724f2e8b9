//! Property tests of the Gmail search (`q`) the filters become: whatever text a filter holds,
//! it stays one search term, so it can neither add terms nor open or close a group.

use proptest::prelude::*;

use super::{MailFilter, query, term};

/// The terms of a Gmail search at its top level, and its grouping characters outside quotes.
fn terms(q: &str) -> (Vec<String>, String) {
    let (mut terms, mut groups, mut current, mut quoted) =
        (Vec::new(), String::new(), String::new(), false);
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if !quoted && c.is_whitespace() => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            '{' | '}' | '(' | ')' if !quoted => groups.push(c),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    (terms, groups)
}

proptest! {
    #[test]
    fn any_text_is_one_term(value in any::<String>()) {
        let (found, groups) = terms(&term(&value));
        prop_assert_eq!(found.len(), 1, "{:?}", term(&value));
        prop_assert_eq!(groups, "");
    }

    #[test]
    fn text_in_a_filter_stays_in_its_term(value in any::<String>()) {
        let filter = MailFilter {
            subject_contains: Some(value.clone()),
            label: Some(value.clone()),
            ..MailFilter::default()
        };
        let (found, groups) = terms(&query(&filter, None));
        prop_assert_eq!(found.len(), 2, "{}", query(&filter, None));
        prop_assert!(found[0].starts_with("subject:"));
        prop_assert!(found[1].starts_with("label:"));
        prop_assert_eq!(groups, "");

        let filter = MailFilter { participant: Some(value), ..MailFilter::default() };
        let (found, groups) = terms(&query(&filter, None));
        prop_assert_eq!(found.len(), 2, "{}", query(&filter, None));
        prop_assert_eq!(groups, "{}", "only the participant's own group");
    }
}
