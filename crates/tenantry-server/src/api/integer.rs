//! Integers as the API document promises them: JSON Schema's `integer` is
//! any JSON number with a zero fraction, so in a body `576.0` is the integer
//! 576 (client generators and JavaScript produce it). serde's integer types
//! refuse it; these accept it. In query strings (`?limit=20`), which are
//! text, an integer is its digits.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// An integer field of a JSON body;
/// `#[serde(deserialize_with = "integer::required")]`.
pub(crate) fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    deserializer.deserialize_any(IntegerVisitor::<T>::json())
}

/// An optional integer field of a JSON body (null or absent is `None`);
/// `#[serde(default, deserialize_with = "integer::optional")]`.
pub(crate) fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    deserializer.deserialize_option(OptionalVisitor(IntegerVisitor::<T>::json()))
}

/// An optional integer query parameter (absent is `None`);
/// `#[serde(default, deserialize_with = "integer::query")]`.
pub(crate) fn query<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    deserializer.deserialize_option(OptionalVisitor(IntegerVisitor::<T>::text()))
}

/// Reads an integer from JSON numbers, or — for query strings — from text.
struct IntegerVisitor<T> {
    text: bool,
    of: PhantomData<T>,
}

impl<T> IntegerVisitor<T> {
    fn json() -> Self {
        Self {
            text: false,
            of: PhantomData,
        }
    }

    fn text() -> Self {
        Self {
            text: true,
            of: PhantomData,
        }
    }
}

impl<T: TryFrom<i64>> IntegerVisitor<T> {
    fn fit<E: de::Error>(value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
    }
}

impl<'de, T: TryFrom<i64>> Visitor<'de> for IntegerVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        Self::fit(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        Self::fit(i64::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))?)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        // Whole, and inside i64: −2^63 is one, 2^63 is not.
        let bound = 2f64.powi(63);
        if value.fract() == 0.0 && (-bound..bound).contains(&value) {
            Self::fit(value as i64)
        } else if value.fract() == 0.0 {
            Err(E::custom(format!("{value} is out of range")))
        } else {
            Err(E::custom(format!("{value} is not an integer")))
        }
    }

    /// Query strings carry integers as digits (`?limit=20`): parsed
    /// exactly, without a fraction, so no value beyond `i64` rounds into it.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        if !self.text {
            // In JSON, "12" is a string: no integer field takes it.
            return Err(E::invalid_type(de::Unexpected::Str(text), &self));
        }
        match text.parse::<i64>() {
            Ok(value) => Self::fit(value),
            Err(_) if text.parse::<i128>().is_ok() => {
                Err(E::custom(format!("{text} is out of range")))
            }
            Err(_) => Err(E::custom(format!("{text:?} is not an integer"))),
        }
    }
}

struct OptionalVisitor<T>(IntegerVisitor<T>);

impl<'de, T: TryFrom<i64>> Visitor<'de> for OptionalVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self.0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "super::required")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional")]
        m: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_integers_in_either_spelling() {
        assert_eq!(parse(r#"{"n": 576.0}"#).unwrap().n, 576);
        assert_eq!(parse(r#"{"n": 5, "m": -2.0}"#).unwrap().m, Some(-2));
        assert_eq!(parse(r#"{"n": 5, "m": null}"#).unwrap().m, None);
        assert_eq!(parse(r#"{"n": 5}"#).unwrap().m, None);
    }

    #[test]
    fn fractions_and_out_of_range_values_are_refused_with_a_reason() {
        assert!(
            parse(r#"{"n": 1.5}"#)
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(parse(r#"{"n": -1}"#).unwrap_err().contains("out of range"));
        assert!(
            parse(r#"{"n": 1e300}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse(r#"{"n": "7"}"#).is_err(),
            "a JSON string is not an integer"
        );
        assert!(parse(r#"{"n": true}"#).is_err());
    }

    #[test]
    fn query_strings_parse() {
        #[derive(Deserialize)]
        struct Query {
            #[serde(default, deserialize_with = "super::query")]
            limit: Option<i64>,
        }
        let parse = |uri: &'static str| {
            axum::extract::Query::<Query>::try_from_uri(&axum::http::Uri::from_static(uri))
                .map(|q| q.0.limit)
        };
        assert_eq!(parse("/x?limit=20").unwrap(), Some(20));
        assert!(parse("/x?limit=20.0").is_err(), "text: digits only");
        assert_eq!(parse("/x").unwrap(), None);
        assert!(parse("/x?limit=x").is_err());
        assert!(parse("/x?limit=2.5").is_err());
        // One below i64::MIN: a float would round it into range.
        assert!(parse("/x?limit=-9223372036854775809").is_err());
        assert_eq!(
            parse("/x?limit=-9223372036854775808").unwrap(),
            Some(i64::MIN)
        );
    }
}
