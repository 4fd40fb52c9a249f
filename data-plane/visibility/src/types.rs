//! The seven search-attribute types and their names.

use std::fmt;
use std::str::FromStr;

use orrery_proto::api::enums::v1::IndexedValueType;

/// The type of a search attribute (Temporal's `IndexedValueType` without
/// `Unspecified`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaType {
    Bool,
    Datetime,
    Double,
    Int,
    Keyword,
    KeywordList,
    Text,
}

impl SaType {
    pub const ALL: [SaType; 7] = [
        SaType::Bool,
        SaType::Datetime,
        SaType::Double,
        SaType::Int,
        SaType::Keyword,
        SaType::KeywordList,
        SaType::Text,
    ];

    /// The name Temporal prints for the type ("Keyword", "KeywordList", ...):
    /// what goes into a payload's `type` metadata and into error messages.
    pub fn name(self) -> &'static str {
        match self {
            SaType::Bool => "Bool",
            SaType::Datetime => "Datetime",
            SaType::Double => "Double",
            SaType::Int => "Int",
            SaType::Keyword => "Keyword",
            SaType::KeywordList => "KeywordList",
            SaType::Text => "Text",
        }
    }

    /// Parses a type name the way the real server does
    /// (`IndexedValueTypeFromString`): the short name ("Keyword") or the
    /// proto enum name ("INDEXED_VALUE_TYPE_KEYWORD"), case-sensitively.
    pub fn from_name(name: &str) -> Option<SaType> {
        if let Some(t) = SaType::ALL.into_iter().find(|t| t.name() == name) {
            return Some(t);
        }
        IndexedValueType::from_str_name(name).and_then(SaType::from_indexed_value_type)
    }

    pub fn to_indexed_value_type(self) -> IndexedValueType {
        match self {
            SaType::Bool => IndexedValueType::Bool,
            SaType::Datetime => IndexedValueType::Datetime,
            SaType::Double => IndexedValueType::Double,
            SaType::Int => IndexedValueType::Int,
            SaType::Keyword => IndexedValueType::Keyword,
            SaType::KeywordList => IndexedValueType::KeywordList,
            SaType::Text => IndexedValueType::Text,
        }
    }

    /// `None` for `Unspecified`.
    pub fn from_indexed_value_type(t: IndexedValueType) -> Option<SaType> {
        Some(match t {
            IndexedValueType::Unspecified => return None,
            IndexedValueType::Bool => SaType::Bool,
            IndexedValueType::Datetime => SaType::Datetime,
            IndexedValueType::Double => SaType::Double,
            IndexedValueType::Int => SaType::Int,
            IndexedValueType::Keyword => SaType::Keyword,
            IndexedValueType::KeywordList => SaType::KeywordList,
            IndexedValueType::Text => SaType::Text,
        })
    }

    /// From the proto's `i32`; `None` for 0 (`Unspecified`) and unknown values.
    pub fn from_i32(v: i32) -> Option<SaType> {
        IndexedValueType::try_from(v)
            .ok()
            .and_then(SaType::from_indexed_value_type)
    }

    pub fn to_i32(self) -> i32 {
        self.to_indexed_value_type() as i32
    }

    /// Types the real server lets `ORDER BY` use (not Text; KeywordList has
    /// no single value to sort on either).
    pub fn sortable(self) -> bool {
        !matches!(self, SaType::Text | SaType::KeywordList)
    }
}

impl fmt::Display for SaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error of `SaType::from_str` / `TryFrom`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown search attribute type {0}")]
pub struct UnknownSaType(pub String);

impl FromStr for SaType {
    type Err = UnknownSaType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SaType::from_name(s).ok_or_else(|| UnknownSaType(s.to_string()))
    }
}

impl From<SaType> for IndexedValueType {
    fn from(t: SaType) -> Self {
        t.to_indexed_value_type()
    }
}

impl From<SaType> for i32 {
    fn from(t: SaType) -> Self {
        t.to_i32()
    }
}

impl TryFrom<IndexedValueType> for SaType {
    type Error = UnknownSaType;
    fn try_from(t: IndexedValueType) -> Result<Self, Self::Error> {
        SaType::from_indexed_value_type(t).ok_or_else(|| UnknownSaType(t.as_str_name().into()))
    }
}

impl TryFrom<i32> for SaType {
    type Error = UnknownSaType;
    fn try_from(v: i32) -> Result<Self, Self::Error> {
        SaType::from_i32(v).ok_or_else(|| UnknownSaType(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for t in SaType::ALL {
            assert_eq!(SaType::from_name(t.name()), Some(t));
            assert_eq!(
                SaType::from_name(t.to_indexed_value_type().as_str_name()),
                Some(t)
            );
            assert_eq!(SaType::from_i32(t.to_i32()), Some(t));
            assert_eq!(t.to_string().parse::<SaType>(), Ok(t));
        }
        assert_eq!(SaType::from_i32(0), None);
        assert_eq!(SaType::from_i32(99), None);
        assert_eq!(SaType::from_name("keyword"), None);
        assert_eq!(SaType::from_name("INDEXED_VALUE_TYPE_UNSPECIFIED"), None);
        assert_eq!(SaType::Keyword.to_i32(), 2);
        assert_eq!(SaType::KeywordList.to_i32(), 7);
    }
}
