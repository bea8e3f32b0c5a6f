//! OpenAPI schemas for the newtypes that parse themselves from strings
//! (and so cannot derive one): what a client may send is the string form,
//! with the rule the parser enforces written as a pattern or an example.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use super::resources::chrono_tz_name::TzName;
use super::{Coordinates, EventType, LanguageTag, PhoneNumber};

fn string(description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([example])
}

impl PartialSchema for PhoneNumber {
    fn schema() -> RefOr<Schema> {
        string(
            "E.164 phone number: `+`, then 8 to 15 digits, the first not 0. \
             On input, spaces, dots, dashes and brackets between the digits \
             are accepted and dropped.",
            "+12155550123",
        )
        .pattern(Some(r"^\+[1-9][0-9]{7,14}$"))
        .into()
    }
}
impl ToSchema for PhoneNumber {}

impl PartialSchema for LanguageTag {
    fn schema() -> RefOr<Schema> {
        string("RFC 5646 language tag, served in canonical case.", "es-MX").into()
    }
}
impl ToSchema for LanguageTag {}

impl PartialSchema for TzName {
    fn schema() -> RefOr<Schema> {
        string("IANA time zone name.", "America/New_York").into()
    }
}
impl ToSchema for TzName {}

impl PartialSchema for EventType {
    fn schema() -> RefOr<Schema> {
        string(
            "Mobilize's event types: CANVASS, PHONE_BANK, TEXT_BANK, MEETING, ...",
            "CANVASS",
        )
        .enum_values(Some(EventType::all().map(|t| t.as_str())))
        .into()
    }
}
impl ToSchema for EventType {}

impl PartialSchema for Coordinates {
    fn schema() -> RefOr<Schema> {
        let number = |min: f64, max: f64| {
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .minimum(Some(min))
                .maximum(Some(max))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("latitude", number(-90.0, 90.0))
            .required("latitude")
            .property("longitude", number(-180.0, 180.0))
            .required("longitude")
            .examples([serde_json::json!({"latitude": 39.9526, "longitude": -75.1652})])
            .into()
    }
}
impl ToSchema for Coordinates {}
