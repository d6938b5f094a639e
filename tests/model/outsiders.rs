//! Fixed sequences with the actors beyond this handle's process: the
//! scenarios of issue 11 that the model can play (another process writing
//! the file, a fork's child), and what the model found there. Those that
//! fork run in a process of their own (`isolated`).

use crate::isolated;
use crate::regressions::{bytes, check_cfg, fixed, no_bytes, text, unobserved};
use crate::world::{Cfg, Data, H, Kid, Op, Out, Pos};

/// Row 1: our handle is opened with `append(true)`; another process
/// appends with `O_APPEND` between two of our appends, no flush between:
/// `a1 b1 a2`, as with `File` (not `a1 a2`, zeros, `b1`).
#[test]
fn issue11_outsider_appends_between_our_appends() {
    check_cfg(
        Cfg {
            main_append: true,
            ..unobserved()
        },
        vec![
            Op::Write {
                h: H::Main,
                data: text(2, 1),
            },
            Op::Outsider {
                cmd: Out::Append { data: text(2, 2) },
            },
            Op::Write {
                h: H::Main,
                data: text(2, 3),
            },
        ],
    );
}

/// Row 2: another process does `write_at(b"B", 1000)` and `sync_all` after
/// we wrote 100 bytes; we drop: the file keeps its 1,001 bytes.
#[test]
fn issue11_outsider_write_survives_our_drop() {
    check_cfg(
        unobserved(),
        vec![
            Op::Write {
                h: H::Main,
                data: text(100, 1),
            },
            Op::Outsider {
                cmd: Out::WriteAt {
                    data: text(1, 2),
                    at: Pos::Abs(1000),
                },
            },
            Op::Outsider { cmd: Out::SyncAll },
            Op::Outsider { cmd: Out::Close },
            Op::Drop { h: H::Main },
        ],
    );
}

/// Row 3: fork; the parent writes; the child drops its inherited handle:
/// the parent's bytes stay.
#[test]
fn issue11_fork_child_drop_keeps_parents_write() {
    isolated(
        "outsiders::issue11_fork_child_drop_keeps_parents_write",
        || {
            check_cfg(
                unobserved(),
                vec![
                    Op::Fork { kid: vec![] },
                    Op::Write {
                        h: H::Main,
                        data: text(100, 1),
                    },
                    Op::Child {
                        kid: vec![Kid::Drop(H::Main)],
                    },
                ],
            );
        },
    );
}

/// Row 4: fork; the child writes C, then the parent writes P through the
/// same handle: `... C P`, as the file offset is shared.
#[test]
fn issue11_fork_child_and_parent_share_the_cursor() {
    isolated(
        "outsiders::issue11_fork_child_and_parent_share_the_cursor",
        || {
            check_cfg(
                unobserved(),
                vec![
                    Op::Fork {
                        kid: vec![Kid::Do(Op::Write {
                            h: H::Main,
                            data: text(1, 1),
                        })],
                    },
                    Op::Write {
                        h: H::Main,
                        data: text(1, 2),
                    },
                ],
            );
        },
    );
}

/// The outsider on the anonymous world opens `/proc/<our pid>/fd/N`, and
/// sees our unflushed bytes and the exact size.
#[test]
fn issue11_outsider_on_anonymous_file() {
    check_cfg(
        Cfg {
            observe: false,
            ..fixed(true)
        },
        vec![
            Op::WriteAll {
                h: H::Main,
                data: bytes(5000),
            },
            Op::Outsider {
                cmd: Out::ReadAt {
                    len: 100,
                    at: Pos::End(-50),
                },
            },
            Op::Outsider {
                cmd: Out::WriteAt {
                    data: text(10, 2),
                    at: Pos::End(3000),
                },
            },
            Op::Outsider { cmd: Out::Len },
            Op::Read {
                h: H::Main,
                len: 10,
            },
            Op::Metadata { h: H::Main },
        ],
    );
}

/// A `File` taken out of a forked description (`into_file`) and wrapped
/// again (`try_from`) still shares the offset with the child: the child's
/// write moves the parent's cursor.
#[test]
fn fork_then_into_file_keeps_the_offset_shared() {
    isolated(
        "outsiders::fork_then_into_file_keeps_the_offset_shared",
        || {
            check_cfg(
                unobserved(),
                vec![
                    Op::Child { kid: vec![] },
                    Op::IntoFile { h: H::Main },
                    Op::Child {
                        kid: vec![
                            Kid::Do(Op::Write {
                                h: H::Main,
                                data: text(1, 0),
                            }),
                            Kid::Do(Op::Read { h: H::Main, len: 0 }),
                        ],
                    },
                ],
            );
        },
    );
}

/// After a fork, an append handle reopened with truncation appends exactly:
/// the inode is Shared for good.
#[test]
fn fork_then_append_stays_exact() {
    isolated("outsiders::fork_then_append_stays_exact", || {
        check_cfg(
            Cfg {
                main_append: true,
                init: no_bytes(),
                ..unobserved()
            },
            vec![
                Op::Reopen { truncate: true },
                Op::Fork { kid: vec![] },
                Op::Write {
                    h: H::Main,
                    data: Data {
                        len: 1,
                        seed: 0,
                        text: false,
                    },
                },
            ],
        );
    });
}

/// `write_to` after a fork child appended: the cursor is the kernel's, so
/// `File`'s own copy sends the child's byte, and the length then counts it
/// (as after `read_to_end`).
#[test]
fn write_to_after_a_fork_child_appended() {
    isolated("outsiders::write_to_after_a_fork_child_appended", || {
        check_cfg(
            Cfg {
                init: no_bytes(),
                ..unobserved()
            },
            vec![
                Op::Fork {
                    kid: vec![Kid::Do(Op::Write {
                        h: H::Main,
                        data: text(1, 0),
                    })],
                },
                Op::WriteTo { h: H::Main },
                Op::Len { h: H::Main },
            ],
        );
    });
}

/// The outsider's first write breaks our lease and its close lets a
/// handle that keeps reading take it back; after our next write (with its
/// step of zeros) the outsider's append lands right after our bytes.
#[test]
fn lease_taken_back_after_the_outsider_closes() {
    let keep_reading = |offset| Op::KeepReading {
        h: H::Main,
        len: 16,
        offset,
    };
    check_cfg(
        unobserved(),
        vec![
            Op::Write {
                h: H::Main,
                data: text(100, 1),
            },
            Op::Outsider {
                cmd: Out::WriteAt {
                    data: text(1, 2),
                    at: Pos::End(10),
                },
            },
            Op::Outsider { cmd: Out::Close },
            keep_reading(90),
            Op::Write {
                h: H::Main,
                data: text(50, 3),
            },
            Op::Outsider {
                cmd: Out::Append { data: text(3, 4) },
            },
            keep_reading(140),
            Op::Len { h: H::Main },
        ],
    );
}
