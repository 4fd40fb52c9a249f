//! Where a new namespace goes: the cell with the lowest share of its
//! capacity in use; a full cell takes none.
use std::cmp::Ordering;

use crate::store::{Cell, CellLoad};

pub fn pick_cell(loads: &[CellLoad]) -> Option<&Cell> {
    loads
        .iter()
        .filter(|l| l.cell.capacity > 0 && l.namespaces < l.cell.capacity)
        .min_by(|a, b| {
            // a.n / a.cap vs b.n / b.cap without floats.
            let lhs = i128::from(a.namespaces) * i128::from(b.cell.capacity);
            let rhs = i128::from(b.namespaces) * i128::from(a.cell.capacity);
            lhs.cmp(&rhs)
                .then_with(|| b.cell.capacity.cmp(&a.cell.capacity))
                .then_with(|| a.cell.name.cmp(&b.cell.name))
                .then(Ordering::Equal)
        })
        .map(|l| &l.cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, capacity: i64, namespaces: i64) -> CellLoad {
        CellLoad {
            cell: Cell {
                id: name.into(),
                name: name.into(),
                grpc_endpoint: String::new(),
                admin_endpoint: String::new(),
                admin_token: String::new(),
                capacity,
                created_ms: 0,
            },
            namespaces,
        }
    }

    #[test]
    fn least_loaded_share_wins() {
        assert_eq!(pick_cell(&[]), None);
        let loads = [load("a", 10, 5), load("b", 100, 20), load("c", 4, 1)];
        assert_eq!(pick_cell(&loads).unwrap().name, "b");
        let loads = [load("a", 10, 0), load("b", 100, 0)];
        // Equal shares: the bigger cell, which stays emptier longer.
        assert_eq!(pick_cell(&loads).unwrap().name, "b");
        let loads = [load("a", 2, 2), load("b", 0, 0)];
        assert_eq!(pick_cell(&loads), None);
        let loads = [load("b", 5, 1), load("a", 5, 1)];
        assert_eq!(pick_cell(&loads).unwrap().name, "a");
    }
}
