//! The file behind the segment (`JkShmFile`, `JkShmSize`).

use super::SEGMENT_SIZE;

/// Smallest `JkShmSize` result in bytes, and the granule it is rounded up to (mod_jk's).
pub const MIN_REQUESTED_SIZE: usize = 74_112;
pub const SIZE_ALIGN: usize = 384;

/// Length of the shared memory file: the segment, or more when `JkShmSize` (KB) asks
/// for it, raised to [`MIN_REQUESTED_SIZE`] and rounded up to [`SIZE_ALIGN`] as mod_jk
/// does. The mapping covers the segment; the rest of the file is reserve.
pub fn file_size(shm_size_kb: Option<u32>) -> usize {
    match shm_size_kb {
        None => SEGMENT_SIZE,
        Some(kb) => {
            let asked = (kb as usize).saturating_mul(1024).max(MIN_REQUESTED_SIZE);
            asked
                .div_ceil(SIZE_ALIGN)
                .saturating_mul(SIZE_ALIGN)
                .max(SEGMENT_SIZE)
        }
    }
}

/// Opens or creates the file behind the segment (`JkShmFile`), safely: mode 0600, never
/// through a symlink (CVE-2024-46544 was a world-writable shm file), and an existing file
/// must be a regular file owned by us and closed to others. A file of another size is
/// truncated to zeros (an unknown layout); one of the right size keeps its contents for
/// [`adopt_or_init`] to validate.
pub fn open_file(path: &str, size: u64) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open the shared memory file {path}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{path}: {e}"))?;
    let our_uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if !meta.file_type().is_file() || meta.uid() != our_uid || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "refusing the shared memory file {path}: it must be a regular file owned by uid {our_uid} with mode 0600 (found uid {} mode {:o})",
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    if meta.len() != size {
        file.set_len(0)
            .and_then(|()| file.set_len(size))
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(file)
}
