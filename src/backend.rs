//! Which backend a handle gets, where files can be mapped: the shared
//! inode, a private mapping, or plain system calls for what a mapping
//! cannot serve with `File`'s results.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use crate::Backend;
use crate::description::Description;
use crate::inode::{Inode, Join, MapSource};
use crate::options::MapOptions;
use crate::os::{self, fault};
use crate::private::PrivateMap;

impl Backend {
    /// The backend for `file`, with `map`'s options. `opened`: the crate
    /// opened `file` just now, so no one else shares its open file
    /// description.
    pub(crate) fn choose(file: &File, map: &MapOptions, opened: bool) -> io::Result<Backend> {
        let fd = file.as_fd();
        let identity = os::identify(fd)?;
        let access = os::access(fd)?;
        // O_DIRECT's alignment rules and errors are the kernel's; a file
        // that can be sealed (any seal but F_SEAL_SEAL) may refuse writes
        // or size changes at any moment, and a writable mapping would stop
        // F_SEAL_WRITE from being added. System calls give `File`'s results.
        let sealable = os::seals(fd).is_some_and(|seals| seals != os::SEAL_SEAL);
        if !identity.regular || !fault::recovery() || access.direct || sealable {
            return Ok(Backend::Syscalls);
        }
        let cursor = os::tell(fd)?;
        if map.private {
            let store = PrivateMap::open(fd, access.read, map.reserve, &map.advice)?;
            let desc = Description::new(Arc::new(store), access, map.growth(), cursor, false, fd);
            return Ok(Backend::Private(Arc::new(desc)));
        }
        let join = Join {
            src: MapSource {
                fd,
                readable: access.read,
                writable: access.write,
                // The description is made once the file is mapped.
                via: 0,
            },
            key: identity.key,
            reserve: map.reserve,
            advice: &map.advice,
            access,
            growth: map.growth(),
            cursor,
            opened,
        };
        Ok(match Inode::join(join) {
            Ok(desc) => Backend::Shared(desc),
            // Not mappable (procfs, sysfs, no address space): system calls
            // are always correct.
            Err(_) => Backend::Syscalls,
        })
    }
}
