//! Where a new namespace goes: the cell with the lowest share of its
//! capacity in use; a full cell takes none.
use std::cmp::Ordering;

use crate::store::{Cell, CellLoad};

pub fn pick_cell(loads: &[CellLoad]) -> Option<&Cell> {
    loads
        .iter()
        .filter(|l| {
            let capacity = l.cell.effective_capacity();
            capacity > 0 && l.namespaces < capacity
        })
        .min_by(|a, b| {
            let (a_cap, b_cap) = (a.cell.effective_capacity(), b.cell.effective_capacity());
            // a.n / a.cap vs b.n / b.cap without floats.
            let lhs = i128::from(a.namespaces) * i128::from(b_cap);
            let rhs = i128::from(b.namespaces) * i128::from(a_cap);
            lhs.cmp(&rhs)
                .then_with(|| b_cap.cmp(&a_cap))
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
                http_endpoint: String::new(),
                capacity,
                reported_capacity: None,
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
        // A cell that reports less than it was registered with fills up
        // at its own figure.
        let mut small = load("a", 100, 2);
        small.cell.reported_capacity = Some(2);
        assert_eq!(
            pick_cell(&[small.clone(), load("b", 10, 9)]).unwrap().name,
            "b"
        );
        small.cell.reported_capacity = Some(500);
        assert_eq!(pick_cell(&[small, load("b", 10, 9)]).unwrap().name, "a");
    }
}
