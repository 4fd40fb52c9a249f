#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use orrery_visibility::{Catalog, Dialect, SaType, parse, to_sql};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let mut custom = BTreeMap::new();
    for (name, ty) in [
        ("CustomKeywordField", SaType::Keyword),
        ("CustomKeywordListField", SaType::KeywordList),
        ("CustomTextField", SaType::Text),
        ("CustomIntField", SaType::Int),
        ("CustomDoubleField", SaType::Double),
        ("CustomBoolField", SaType::Bool),
        ("CustomDatetimeField", SaType::Datetime),
    ] {
        custom.insert(name.to_string(), ty);
    }
    let catalog = Catalog::new(custom);
    if let Ok(q) = parse(query, &catalog) {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let s = to_sql(&q, "ns", d);
            assert!(s.where_sql.starts_with("v.namespace_id = "));
        }
    }
});
