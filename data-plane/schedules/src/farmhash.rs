//! FarmHash's 32-bit fingerprint (`farmhashmk::Hash32`), the hash Temporal
//! feeds with a nominal time and the schedule's seed to pick a jitter.
//! Written from the published algorithm; checked against test vectors.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn fetch(s: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]])
}

fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn mur(mut a: u32, mut h: u32) -> u32 {
    a = a.wrapping_mul(C1);
    a = a.rotate_right(17);
    a = a.wrapping_mul(C2);
    h ^= a;
    h = h.rotate_right(19);
    h.wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn len_0_to_4(s: &[u8]) -> u32 {
    let mut b: u32 = 0;
    let mut c: u32 = 9;
    for &byte in s {
        // The reference implementation reads the bytes as signed chars.
        let v = byte as i8 as i32 as u32;
        b = b.wrapping_mul(C1).wrapping_add(v);
        c ^= b;
    }
    fmix(mur(b, mur(s.len() as u32, c)))
}

fn len_5_to_12(s: &[u8]) -> u32 {
    let len = s.len() as u32;
    let mut a = len;
    let mut b = len.wrapping_mul(5);
    let mut c: u32 = 9;
    let d = b;
    a = a.wrapping_add(fetch(s, 0));
    b = b.wrapping_add(fetch(s, s.len() - 4));
    c = c.wrapping_add(fetch(s, (s.len() >> 1) & 4));
    fmix(mur(c, mur(b, mur(a, d))))
}

fn len_13_to_24(s: &[u8]) -> u32 {
    let len = s.len();
    let mut a = fetch(s, (len >> 1) - 4);
    let b = fetch(s, 4);
    let c = fetch(s, len - 8);
    let d = fetch(s, len >> 1);
    let e = fetch(s, 0);
    let f = fetch(s, len - 4);
    let mut h = d.wrapping_mul(C1).wrapping_add(len as u32);
    a = a.rotate_right(12).wrapping_add(f);
    h = mur(c, h).wrapping_add(a);
    a = a.rotate_right(3).wrapping_add(c);
    h = mur(e, h).wrapping_add(a);
    a = a.wrapping_add(f).rotate_right(12).wrapping_add(d);
    h = mur(b, h).wrapping_add(a);
    fmix(h)
}

fn mix_in(h: u32, a: u32) -> u32 {
    (h ^ a)
        .rotate_right(19)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// `Fingerprint32` of Google's FarmHash (identical to Go's `farm.Fingerprint32`).
pub fn fingerprint32(s: &[u8]) -> u32 {
    let len = s.len();
    if len <= 4 {
        return len_0_to_4(s);
    }
    if len <= 12 {
        return len_5_to_12(s);
    }
    if len <= 24 {
        return len_13_to_24(s);
    }
    let scramble = |v: u32| v.wrapping_mul(C1).rotate_right(17).wrapping_mul(C2);
    let mut h = len as u32;
    let mut g = C1.wrapping_mul(len as u32);
    let mut f = g;
    let a0 = scramble(fetch(s, len - 4));
    let a1 = scramble(fetch(s, len - 8));
    let a2 = scramble(fetch(s, len - 16));
    let a3 = scramble(fetch(s, len - 12));
    let a4 = scramble(fetch(s, len - 20));
    h = mix_in(h, a0);
    h = mix_in(h, a2);
    g = mix_in(g, a1);
    g = mix_in(g, a3);
    f = f.wrapping_add(a4).rotate_right(19).wrapping_add(113);
    let mut iters = (len - 1) / 20;
    let mut p = 0;
    loop {
        let a = fetch(s, p);
        let b = fetch(s, p + 4);
        let c = fetch(s, p + 8);
        let d = fetch(s, p + 12);
        let e = fetch(s, p + 16);
        h = h.wrapping_add(a);
        g = g.wrapping_add(b);
        f = f.wrapping_add(c);
        h = mur(d, h).wrapping_add(e);
        g = mur(c, g).wrapping_add(a);
        f = mur(b.wrapping_add(e.wrapping_mul(C1)), f).wrapping_add(d);
        f = f.wrapping_add(g);
        g = g.wrapping_add(f);
        p += 20;
        iters -= 1;
        if iters == 0 {
            break;
        }
    }
    g = g.rotate_right(11).wrapping_mul(C1);
    g = g.rotate_right(17).wrapping_mul(C1);
    f = f.rotate_right(11).wrapping_mul(C1);
    f = f.rotate_right(17).wrapping_mul(C1);
    h = h.wrapping_add(g).rotate_right(19);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    h = h.rotate_right(17).wrapping_mul(C1);
    h = h.wrapping_add(f).rotate_right(19);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    h.rotate_right(17).wrapping_mul(C1)
}

#[cfg(test)]
mod tests {
    use super::fingerprint32;

    #[test]
    fn matches_reference_vectors() {
        // Values printed by the pyfarmhash bindings of the C++ library.
        let ramp30: Vec<u8> = (0..30).collect();
        let ramp200: Vec<u8> = (0..200).collect();
        assert_eq!(fingerprint32(b""), 3696677242);
        assert_eq!(fingerprint32(b"a"), 1016544589);
        assert_eq!(fingerprint32(b"abcd"), 2562006677);
        assert_eq!(fingerprint32(b"hello world"), 430397466);
        assert_eq!(fingerprint32(&ramp30), 3546421164);
        assert_eq!(fingerprint32(&ramp200), 2504833043);
        assert_eq!(fingerprint32(&[0xff, 0x80]), 3747635810);
        assert_eq!(fingerprint32(b"abcdefghijklmnopq"), 724493425);
        assert_eq!(fingerprint32(&(100..124).collect::<Vec<u8>>()), 4154339634);
        assert_eq!(fingerprint32(&(128..141).collect::<Vec<u8>>()), 3672090372);
        assert_eq!(fingerprint32(&[b'x'; 25]), 35736989);
        assert_eq!(
            fingerprint32(&[0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, b'h', b'i']),
            393217648
        );
    }
}
