//! Rendezvous (highest random weight) hashing: every member scores every
//! key and the highest score owns it. Members that see the same member list
//! agree without talking, and a member joining or leaving moves only the
//! keys it wins or held (about 1/N of them), unlike `hash % N`.

/// The index in `members` of the member that owns `key`; `None` when there
/// are no members.
pub fn owner<'a>(members: impl IntoIterator<Item = &'a str>, key: &str) -> Option<&'a str> {
    members
        .into_iter()
        .max_by_key(|member| (score(member, key), *member))
}

/// A stable 64-bit score of (member, key): FNV-1a, then SplitMix64's
/// finaliser so similar ids (`cell-1`, `cell-2`) do not score alike.
fn score(member: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0xff]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(members: &[&str], keys: usize) -> Vec<String> {
        (0..keys)
            .map(|k| {
                owner(members.iter().copied(), &format!("shard-{k}"))
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn every_member_gets_a_fair_share() {
        let members = ["cell-0", "cell-1", "cell-2"];
        let owned = owners(&members, 3000);
        for m in members {
            let n = owned.iter().filter(|o| *o == m).count();
            assert!((800..1200).contains(&n), "{m} owns {n} of 3000");
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_keys() {
        let before = owners(&["a", "b", "c"], 1000);
        let after = owners(&["a", "c"], 1000);
        for (old, new) in before.iter().zip(&after) {
            if old != "b" {
                assert_eq!(old, new, "a key of a surviving member moved");
            } else {
                assert_ne!(new, "b");
            }
        }
    }

    #[test]
    fn the_order_members_are_listed_in_does_not_matter() {
        assert_eq!(owners(&["x", "y", "z"], 100), owners(&["z", "x", "y"], 100));
        assert_eq!(owner([], "k"), None);
    }
}
