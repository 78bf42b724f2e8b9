//! One seeded population of people and companies that every simulator draws from, so the
//! HubSpot contact, the Gmail sender and the Slack user with the same email are the same person
//! and cross-provider joins find something. The same seed gives the same data on every start.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};

const SEED: u64 = 0x5EED_2026_1126;
pub const COMPANIES: usize = 50;
pub const PEOPLE: usize = 600;

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Linus",
    "Hedy",
    "Tim",
    "Karen",
    "John",
    "Sophie",
    "Guido",
    "Anita",
    "Vint",
    "Joan",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Mary",
    "Bjarne",
    "Jean",
    "Fran",
    "Adele",
    "Whitfield",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Lamarr",
    "Berners-Lee",
    "Jones",
    "McCarthy",
    "Wilson",
    "Rossum",
    "Borg",
    "Cerf",
    "Clarke",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Keller",
    "Stroustrup",
    "Sammet",
    "Bilas",
    "Goldberg",
    "Diffie",
];
const TITLES: &[&str] = &[
    "VP Sales",
    "Account Executive",
    "Head of Operations",
    "CTO",
    "Procurement Lead",
    "Marketing Manager",
    "CFO",
    "Engineering Manager",
    "Office Manager",
    "CEO",
];
const INDUSTRIES: &[&str] = &[
    "Software",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Finance",
    "Logistics",
    "Education",
];
const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Massive",
    "Aperture",
    "Pied",
    "Dunder",
    "Gringotts",
    "Oscorp",
    "Monarch",
    "Nakatomi",
    "Virtucon",
    "Gekko",
    "Sterling",
    "Prestige",
    "Blue Sun",
];
const COMPANY_SUFFIX: &[&str] = &["Labs", "Inc", "Systems", "Group", "Works", "Partners"];

#[derive(Debug, Clone)]
pub struct Company {
    pub name: String,
    pub domain: String,
    pub industry: &'static str,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub email: String,
    pub phone: String,
    pub title: &'static str,
    /// Index into `Population::companies`.
    pub company: usize,
    /// When this person first appeared anywhere (records derive their dates from it).
    pub since: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Population {
    pub companies: Vec<Company>,
    pub people: Vec<Person>,
}

/// SplitMix64: tiny, fast, and the same sequence on every platform and version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, list: &[T]) -> T {
        list[(self.next() % list.len() as u64) as usize]
    }
}

/// The population, built once.
pub fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    POPULATION.get_or_init(build)
}

fn build() -> Population {
    let mut rng = SplitMix(SEED);
    let companies: Vec<Company> = (0..COMPANIES)
        .map(|i| {
            let word = COMPANY_WORDS[i % COMPANY_WORDS.len()];
            let suffix = COMPANY_SUFFIX[(i / COMPANY_WORDS.len() + i) % COMPANY_SUFFIX.len()];
            let name = format!("{word} {suffix}");
            let domain = format!(
                "{}{}.example",
                word.to_lowercase().replace(' ', ""),
                suffix.to_lowercase()
            );
            Company {
                name,
                domain,
                industry: rng.pick(INDUSTRIES),
            }
        })
        .collect();
    let start = Utc
        .with_ymd_and_hms(2024, 1, 1, 9, 0, 0)
        .single()
        .expect("a valid date");
    let people = (0..PEOPLE)
        .map(|i| {
            let first_name = FIRST[i % FIRST.len()];
            let last_name = LAST[(i / FIRST.len() + i * 7) % LAST.len()];
            let company = (rng.next() % COMPANIES as u64) as usize;
            let email = format!(
                "{}.{}{}@{}",
                first_name.to_lowercase(),
                last_name.to_lowercase().replace('-', ""),
                i,
                companies[company].domain
            );
            Person {
                first_name,
                last_name,
                email,
                phone: format!("+1-555-{:04}", rng.next() % 10_000),
                title: rng.pick(TITLES),
                company,
                since: start + Duration::minutes(i as i64 * 97 + (rng.next() % 60) as i64),
            }
        })
        .collect();
    Population { companies, people }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_people() {
        let a = build();
        let b = build();
        assert_eq!(a.people.len(), PEOPLE);
        for (x, y) in a.people.iter().zip(&b.people) {
            assert_eq!(
                (&x.email, x.since, x.company),
                (&y.email, y.since, y.company)
            );
        }
        let mut emails: Vec<_> = a.people.iter().map(|p| &p.email).collect();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), PEOPLE, "emails are unique");
    }
}
