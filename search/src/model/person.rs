//! A person as stored and served: the input fields plus what the store
//! adds (id, timestamps, a derived timezone).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::LanguageTag;
use super::resources::{EmailAddress, PersonInput, Phone, PostalAddress, Role, Span};
use crate::geo::Point;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    pub id: i64,
    pub identifiers: Vec<String>,
    pub role: Role,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_addresses: Vec<EmailAddress>,
    pub phone_numbers: Vec<Phone>,
    pub postal_addresses: Vec<PostalAddress>,
    pub languages_spoken: Vec<LanguageTag>,
    pub skills: Vec<String>,
    pub availability: Vec<Span>,
    pub timezone: Option<String>,
    pub tags: Vec<String>,
    pub created_date: DateTime<Utc>,
    pub modified_date: DateTime<Utc>,
}

impl Person {
    pub fn new(
        id: i64,
        input: PersonInput,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Self {
        let timezone = input.timezone.as_ref().map(|t| t.as_str().to_string());
        let mut person = Person {
            id,
            identifiers: input.identifiers,
            role: input.role,
            given_name: input.given_name,
            family_name: input.family_name,
            email_addresses: input.email_addresses,
            phone_numbers: input.phone_numbers,
            postal_addresses: input.postal_addresses,
            languages_spoken: input.languages_spoken,
            skills: input.skills,
            availability: input.availability,
            timezone,
            tags: input.tags,
            created_date: created,
            modified_date: modified,
        };
        if person.timezone.is_none() {
            person.timezone = person
                .postal_addresses
                .iter()
                .find_map(|a| super::derived_timezone(a.postal_code.as_deref(), a.location))
                .map(String::from);
        }
        person
    }

    /// Where the person is, for geo search: the first address that has
    /// coordinates, else the centroid of the first ZIP code that has one.
    pub fn point(&self) -> Option<Point> {
        super::located(
            self.postal_addresses
                .iter()
                .map(|a| (a.postal_code.as_deref(), a.location)),
        )
    }
}
