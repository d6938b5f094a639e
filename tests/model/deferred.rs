//! Fixed sequences of handles that map the file at a later call
//! (`OpenOptions::map_after`), which the model found in the first version:
//! such a handle's reads must bring the length the other handles share up
//! to date, as a mapped reader's do, also after a fork.

use crate::isolated;
use crate::regressions::{check_cfg, fixed, no_bytes, text, unobserved};
use crate::world::{Cfg, Ext, H, Kid, Op};

/// Another process sets the size; a reader that has not mapped reads to
/// the end: `Main.len()` then tells the new size.
#[test]
fn a_reader_before_its_mapping_catches_the_length_up() {
    check_cfg(
        Cfg {
            map_after: Some(4),
            init: no_bytes(),
            ..fixed(true)
        },
        vec![
            Op::External {
                change: Ext::SetLen { size: 1 },
            },
            Op::ReadToEnd {
                h: H::Ro,
                prefix: 0,
            },
        ],
    );
}

/// After a fork, the reader never maps, and a child's write is caught up
/// with by the parent's reader all the same.
#[test]
fn a_forked_reader_catches_a_childs_write_up() {
    isolated(
        "deferred::a_forked_reader_catches_a_childs_write_up",
        || {
            check_cfg(
                Cfg {
                    map_after: Some(1),
                    init: no_bytes(),
                    ..unobserved()
                },
                vec![
                    Op::ReadExactAt {
                        h: H::App,
                        len: 0,
                        offset: 0,
                    },
                    Op::Fork {
                        kid: vec![Kid::Do(Op::Write {
                            h: H::Ro,
                            data: no_bytes(),
                        })],
                    },
                    Op::Child {
                        kid: vec![Kid::Do(Op::WriteAt {
                            h: H::App,
                            data: text(1, 0),
                            offset: 0,
                        })],
                    },
                    Op::ReadToEnd {
                        h: H::Ro,
                        prefix: 0,
                    },
                ],
            );
        },
    );
}

/// A reader that will never map (forked, then asked to map by `write_to`)
/// still catches the others up: CI's model run found it settled on system
/// calls without.
#[test]
fn a_reader_that_never_maps_still_catches_the_length_up() {
    isolated(
        "deferred::a_reader_that_never_maps_still_catches_the_length_up",
        || {
            check_cfg(
                Cfg {
                    map_after: Some(u32::MAX),
                    init: no_bytes(),
                    ..unobserved()
                },
                vec![
                    Op::Fork {
                        kid: vec![Kid::Drop(H::Ro)],
                    },
                    Op::WriteTo { h: H::Ro },
                    Op::External {
                        change: Ext::Append { data: text(1, 0) },
                    },
                    Op::ReadToString {
                        h: H::Ro,
                        prefix: false,
                    },
                ],
            );
        },
    );
}

/// The clone of a writer that will never map (forked before it mapped)
/// writes as a `File` and still catches the others up, here a reopened
/// `Main` that mapped meanwhile: the model found the clone was a plain
/// system-call handle that told no one.
#[test]
fn a_clone_of_a_writer_that_never_maps_catches_the_length_up() {
    isolated(
        "deferred::a_clone_of_a_writer_that_never_maps_catches_the_length_up",
        || {
            check_cfg(
                Cfg {
                    map_after: Some(4),
                    init: no_bytes(),
                    ..unobserved()
                },
                vec![
                    Op::Fork { kid: vec![] },
                    Op::Read {
                        h: H::Clone,
                        len: 0,
                    },
                    Op::Reopen { truncate: false },
                    Op::Read { h: H::Main, len: 0 },
                    Op::Read { h: H::Main, len: 0 },
                    Op::WriteAllAt {
                        h: H::Clone,
                        data: text(1, 0),
                        offset: 0,
                    },
                    Op::Read { h: H::Main, len: 0 },
                ],
            );
        },
    );
}
