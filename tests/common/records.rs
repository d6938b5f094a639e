//! Self-checking records, for appends from several threads: each says who
//! wrote it and carries a checksum, so that records mixed into each other,
//! torn, lost or repeated show.

use super::race::mix;

/// A checksum of `bytes`, eight at a time.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(0xCBF2_9CE4_8422_2325, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        mix(h ^ u64::from_le_bytes(w))
    })
}

/// Record `seq` of thread `t`: magic, thread, length, sequence number, a body
/// derived from all of them, and a checksum; 16 to 271 bytes, so that two
/// records mixed into each other cannot pass.
pub fn app_record(t: u8, seq: u32) -> Vec<u8> {
    let key = (u64::from(t) << 32) | u64::from(seq);
    let len = 16 + (mix(key) % 256) as usize;
    let mut r = Vec::with_capacity(len);
    r.push(0xA5);
    r.push(t);
    r.extend_from_slice(&(len as u16).to_le_bytes());
    r.extend_from_slice(&seq.to_le_bytes());
    let mut k = 0u64;
    while r.len() < len - 4 {
        r.push(mix(key ^ (k << 40)) as u8);
        k += 1;
    }
    let sum = checksum(&r) as u32;
    r.extend_from_slice(&sum.to_le_bytes());
    r
}

/// Parses `data` as back-to-back records of `threads` threads, `per_thread`
/// each; every record must be whole, in its thread's order, and present
/// exactly once.
pub fn check_app_records(data: &[u8], threads: u8, per_thread: u32) {
    let mut next = vec![0u32; threads as usize];
    let mut pos = 0usize;
    while pos < data.len() {
        assert!(
            pos + 8 <= data.len(),
            "truncated record header at {pos} of {}",
            data.len()
        );
        let h = &data[pos..pos + 8];
        assert_eq!(h[0], 0xA5, "no record starts at {pos}: {:02x?}", h);
        let t = h[1];
        let len = u16::from_le_bytes([h[2], h[3]]) as usize;
        let seq = u32::from_le_bytes(h[4..8].try_into().unwrap());
        assert!(t < threads, "record at {pos}: thread {t}");
        assert!(pos + len <= data.len(), "record at {pos} runs past the end");
        assert_eq!(
            seq, next[t as usize],
            "record at {pos}: thread {t} seq {seq}, expected the next in order"
        );
        let want = app_record(t, seq);
        assert!(
            data[pos..pos + len] == want[..],
            "record at {pos} (thread {t}, seq {seq}, {len} bytes) is not intact: \
             another write landed inside it"
        );
        next[t as usize] += 1;
        pos += len;
    }
    for (t, n) in next.iter().enumerate() {
        assert_eq!(*n, per_thread, "thread {t}: records found");
    }
}
