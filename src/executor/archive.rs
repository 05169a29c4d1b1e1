//! Zip helpers shared by the executors and the API: safe unpacking, packing a folder, building uploads.
//!
//! Everything here is synchronous; async callers run it inside `spawn_blocking`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::{Error, Result};

/// A zip archive with no entries (the end-of-central-directory record alone): the result of a run
/// whose backend kept no files.
pub const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// Size of the copy buffer used when reading or writing entries.
const COPY_BUF: usize = 64 * 1024;
/// Files smaller than this are stored, not deflated: deflate saves nothing worth having on them,
/// and each deflated entry sets up (and zeroes) an encoder of a few hundred KiB, which was 4 % of
/// the worker's CPU with a `run.sh` and one small output per job (docs/benchmarks.md, issue 18).
pub const STORE_BELOW_BYTES: u64 = 512;

/// How an entry of `len` bytes is compressed: see [`STORE_BELOW_BYTES`].
pub fn method_for(len: u64) -> CompressionMethod {
    if len < STORE_BELOW_BYTES { CompressionMethod::Stored } else { CompressionMethod::Deflated }
}

/// Checks an archive member name and returns it as a relative path that stays inside its folder.
///
/// Accepts `/`-separated names; empty and `.` components are dropped (so `dir/` and `./a` are
/// fine). Returns `None` for an empty name, an absolute name, any `..` component, a backslash,
/// a NUL byte, or a name with no component left.
pub fn safe_relative_path(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.starts_with('/') || name.contains(['\\', '\0']) {
        return None;
    }
    let mut path = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            _ => path.push(part),
        }
    }
    // Defence in depth: the result must consist of plain names only.
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && path.components().next().is_some()).then_some(path)
}

/// The `/`-joined form of a path made by [`safe_relative_path`].
fn slash_name(path: &Path) -> String {
    let parts: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

/// Builds an in-memory zip (deflate, stored below [`STORE_BELOW_BYTES`], mode 0644) from `(relative path, content)` pairs.
///
/// Names are checked with [`safe_relative_path`]; a bad name, a duplicate, or a name that is
/// both a file and the folder of another file is refused with [`Error::Fatal`] naming it.
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut names = HashSet::new();
    let mut folders = HashSet::new();
    let mut checked = Vec::with_capacity(files.len());
    for (name, data) in files {
        let path = safe_relative_path(name).ok_or_else(|| Error::Fatal(format!("invalid file name {name:?}")))?;
        let clean = slash_name(&path);
        if !names.insert(clean.clone()) {
            return Err(Error::Fatal(format!("duplicate file name {name:?}")));
        }
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            folders.insert(slash_name(dir));
            parent = dir.parent();
        }
        checked.push((clean, data));
    }
    if let Some(clash) = names.iter().find(|n| folders.contains(*n)) {
        return Err(Error::Fatal(format!("file name {clash:?} is also used as a folder")));
    }
    let build_err = |e: zip::result::ZipError| Error::Retryable(format!("cannot build zip: {e}"));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in checked {
        let options = SimpleFileOptions::default()
            .compression_method(method_for(data.len() as u64))
            .unix_permissions(0o644)
            .large_file(data.len() as u64 >= u64::from(u32::MAX));
        writer.start_file(name, options).map_err(build_err)?;
        writer.write_all(data).map_err(|e| Error::Retryable(format!("cannot build zip: {e}")))?;
    }
    Ok(writer.finish().map_err(build_err)?.into_inner())
}

/// `zip_bytes` with `extra` files added (deflated, mode 0644), for a folder "as it is so far"
/// (the seed's `GET /download_partial/{id}`). An extra whose name the archive already has, or
/// that is not a safe relative path, is left out: the archive's own files win.
pub fn with_extra_files(zip_bytes: &[u8], extra: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let bad_zip = |e: zip::result::ZipError| Error::Fatal(format!("invalid zip: {e}"));
    let mut writer = ZipWriter::new_append(Cursor::new(zip_bytes.to_vec())).map_err(bad_zip)?;
    let existing: HashSet<String> = {
        let archive = ZipArchive::new(Cursor::new(zip_bytes)).map_err(bad_zip)?;
        archive.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect()
    };
    for (name, data) in extra {
        if existing.contains(name) || safe_relative_path(name).is_none() {
            continue;
        }
        let options =
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(0o644);
        writer.start_file(name.as_str(), options).map_err(bad_zip)?;
        writer.write_all(data).map_err(|e| Error::Retryable(format!("cannot build zip: {e}")))?;
    }
    Ok(writer.finish().map_err(bad_zip)?.into_inner())
}

/// Unpacks `zip_bytes` into the existing folder `dest` and returns the relative paths created
/// (`/`-separated; folders end with `/`).
///
/// Every entry is checked before anything is written: an entry whose path would leave `dest`
/// (absolute, `..`, backslash, NUL) or a symlink entry fails with [`Error::Fatal`], as does an
/// unreadable archive. Stored unix permission bits are kept (owner read/write always added);
/// failures to write to `dest` are [`Error::Retryable`].
pub fn unpack(zip_bytes: &[u8], dest: &Path) -> Result<Vec<String>> {
    let bad_zip = |e: zip::result::ZipError| Error::Fatal(format!("invalid input zip: {e}"));
    let mut archive = ZipArchive::new(Cursor::new(zip_bytes)).map_err(bad_zip)?;
    let mut plan = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(bad_zip)?;
        let name = entry.name().map_err(bad_zip)?.into_owned();
        if entry.is_symlink() {
            return Err(Error::Fatal(format!("input zip has a symlink entry {name:?}")));
        }
        let path = entry
            .enclosed_name()
            .and_then(|_| safe_relative_path(&name))
            .ok_or_else(|| Error::Fatal(format!("input zip entry {name:?} escapes the folder")))?;
        plan.push((index, path, entry.is_dir(), entry.unix_mode()));
    }
    let mut written = Vec::with_capacity(plan.len());
    let mut buf = vec![0u8; COPY_BUF];
    for (index, rel, is_dir, mode) in plan {
        let target = dest.join(&rel);
        let shown = slash_name(&rel);
        let write_err = |e: io::Error| match e.kind() {
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => {
                Error::Fatal(format!("input zip entry {shown:?} conflicts with another: {e}"))
            }
            _ => Error::Retryable(format!("cannot write {}: {e}", target.display())),
        };
        if is_dir {
            fs::create_dir_all(&target).map_err(write_err)?;
            written.push(format!("{shown}/"));
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(write_err)?;
        }
        let perms = mode.map_or(0o644, |m| (m & 0o777) | 0o600);
        let mut out = OpenOptions::new().write(true).create_new(true).mode(perms).open(&target).map_err(write_err)?;
        let mut entry = archive.by_index(index).map_err(bad_zip)?;
        loop {
            let n =
                entry.read(&mut buf).map_err(|e| Error::Fatal(format!("input zip entry {shown:?} is corrupt: {e}")))?;
            if n == 0 {
                break;
            }
            out.write_all(buf.get(..n).unwrap_or_default()).map_err(write_err)?;
        }
        // The umask may have removed bits from `perms`; set them exactly.
        out.set_permissions(fs::Permissions::from_mode(perms)).map_err(write_err)?;
        written.push(shown);
    }
    Ok(written)
}

/// Zips the folder `dir` in memory (the worker stores the result from memory: no file to write,
/// read back and remove).
///
/// Paths are stored relative to `dir`, deflated (stored below [`STORE_BELOW_BYTES`]), with their
/// unix permissions; empty folders are kept. Symlinks, sockets, FIFOs, devices and names that are not UTF-8 are skipped, so nothing
/// outside `dir` is ever read. A file the job made unreadable is [`Error::Fatal`]; other I/O
/// failures are [`Error::Retryable`].
pub fn pack(dir: &Path) -> Result<Vec<u8>> {
    use nix::dir::Dir;
    use nix::errno::Errno;
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{Mode, SFlag, fstatat};

    let zip_err = |e: zip::result::ZipError| Error::Retryable(format!("cannot zip {}: {e}", dir.display()));
    let io_err = |rel: &str, e: Errno| read_err(&dir.join(rel), io::Error::from(e));
    // Every folder is opened relative to its parent's descriptor, never by path, and nothing is
    // opened through a link: a job (or a process it left behind) that swaps a folder for a link
    // to `/` while the walk runs makes it skip that entry, not read the host as root.
    let folder_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let file_flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let root = Dir::open(dir, folder_flags, Mode::empty()).map_err(|e| io_err("", e))?;
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let mut stack: Vec<(Dir, String)> = vec![(root, String::new())];
    let mut buf = vec![0u8; COPY_BUF];
    while let Some((mut folder, prefix)) = stack.pop() {
        let mut names = Vec::new();
        for entry in folder.iter() {
            let entry = entry.map_err(|e| io_err(&prefix, e))?;
            let name = entry.file_name();
            if name != c"." && name != c".." {
                names.push(name.to_owned());
            }
        }
        names.sort();
        // Pushed in reverse so that the stack yields folders in name order.
        for name in names.into_iter().rev() {
            let Ok(utf8) = name.to_str() else {
                tracing::warn!(folder = %dir.join(&prefix).display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let rel = if prefix.is_empty() { utf8.to_string() } else { format!("{prefix}/{utf8}") };
            let stat = match fstatat(&folder, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Err(Errno::ENOENT) => continue, // gone since the listing
                other => other.map_err(|e| io_err(&rel, e))?,
            };
            let size = u64::try_from(stat.st_size).unwrap_or(0);
            let options = SimpleFileOptions::default()
                .compression_method(method_for(size))
                .unix_permissions(stat.st_mode & 0o777)
                .large_file(size >= u64::from(u32::MAX));
            let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
            if kind == SFlag::S_IFDIR {
                let sub = match Dir::openat(&folder, name.as_c_str(), folder_flags, Mode::empty()) {
                    // Swapped for a link or a file since the check above: not followed.
                    Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT) => continue,
                    other => other.map_err(|e| io_err(&rel, e))?,
                };
                writer.add_directory(rel.as_str(), options).map_err(zip_err)?;
                stack.push((sub, rel));
            } else if kind == SFlag::S_IFREG {
                // Never follow a link, nor block on a FIFO, put there after the check above.
                let mut src = match nix::fcntl::openat(&folder, name.as_c_str(), file_flags, Mode::empty()) {
                    Err(Errno::ELOOP | Errno::ENOENT) => continue,
                    other => fs::File::from(other.map_err(|e| io_err(&rel, e))?),
                };
                if !src.metadata().map_err(|e| read_err(&dir.join(&rel), e))?.is_file() {
                    tracing::debug!(path = %rel, "not packing a file that changed into something else");
                    continue;
                }
                writer.start_file(rel.as_str(), options).map_err(zip_err)?;
                loop {
                    let n = src.read(&mut buf).map_err(|e| read_err(&dir.join(&rel), e))?;
                    if n == 0 {
                        break;
                    }
                    writer
                        .write_all(buf.get(..n).unwrap_or_default())
                        .map_err(|e| Error::Retryable(format!("cannot zip {}: {e}", dir.join(&rel).display())))?;
                }
            } else {
                tracing::debug!(path = %rel, "not packing a symlink or special file");
            }
        }
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}

/// Classifies a failure to read something inside the folder being packed.
fn read_err(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::Fatal(format!("cannot read {} from the run folder: {e}", path.display()))
    } else {
        Error::Retryable(format!("cannot read {}: {e}", path.display()))
    }
}

/// The folder under which a workflow step finds its parents' results: `parents/<step name>/`.
pub const PARENTS_FOLDER: &str = "parents";

/// A run's input zip with each parent's result zip added under `parents/<name>/` (a workflow
/// step's; docs/workflows.md). Entries are copied as they are stored, without recompressing. A
/// parent whose zip is empty (it kept no files) adds an empty folder. Entry names are checked
/// again by [`unpack`]; a parent name or entry that is not a plain relative path is refused here.
pub fn with_parents(input: &[u8], parents: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let bad_zip = |e: zip::result::ZipError| Error::Fatal(format!("invalid zip: {e}"));
    let build_err = |e: zip::result::ZipError| Error::Retryable(format!("cannot build zip: {e}"));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    if !input.is_empty() {
        let mut archive = ZipArchive::new(Cursor::new(input)).map_err(bad_zip)?;
        for i in 0..archive.len() {
            writer.raw_copy_file(archive.by_index_raw(i).map_err(bad_zip)?).map_err(build_err)?;
        }
    }
    for (name, zip) in parents {
        let folder = format!("{PARENTS_FOLDER}/{name}");
        if safe_relative_path(&folder).is_none_or(|p| p.components().count() != 2) {
            return Err(Error::Fatal(format!("invalid parent step name {name:?}")));
        }
        writer.add_directory(format!("{folder}/"), SimpleFileOptions::default()).map_err(build_err)?;
        if zip.is_empty() {
            continue;
        }
        let mut archive = ZipArchive::new(Cursor::new(zip.as_slice())).map_err(bad_zip)?;
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(bad_zip)?;
            let inner = entry.name().map_err(bad_zip)?.into_owned();
            if safe_relative_path(inner.trim_end_matches('/')).is_none() {
                return Err(Error::Fatal(format!("parent {name:?} result entry {inner:?} escapes its folder")));
            }
            writer.raw_copy_file_rename(entry, format!("{folder}/{inner}")).map_err(build_err)?;
        }
    }
    Ok(writer.finish().map_err(build_err)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_zip_is_a_valid_archive_with_no_entries() {
        let archive = ZipArchive::new(Cursor::new(EMPTY_ZIP)).expect("readable");
        assert_eq!(archive.len(), 0);
        let built = ZipWriter::new(Cursor::new(Vec::new())).finish().expect("finish").into_inner();
        assert_eq!(built, EMPTY_ZIP, "what the zip crate writes for an empty archive");
    }

    #[test]
    fn extra_files_are_added_and_never_replace_the_archive_s_own() {
        let input =
            zip_files(&[("run.sh".into(), b"echo hi".to_vec()), ("stdout.log".into(), b"mine".to_vec())]).expect("zip");
        let extra = [
            ("stdout.log".to_string(), b"from berth".to_vec()),
            ("stderr.log".to_string(), b"oops".to_vec()),
            ("../escape".to_string(), b"no".to_vec()),
        ];
        let both = with_extra_files(&input, &extra).expect("append");
        let mut archive = ZipArchive::new(Cursor::new(both)).expect("readable");
        let mut names: Vec<_> = archive.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
        names.sort();
        assert_eq!(names, ["run.sh", "stderr.log", "stdout.log"]);
        let mut kept = String::new();
        archive.by_name("stdout.log").expect("entry").read_to_string(&mut kept).expect("read");
        assert_eq!(kept, "mine");
        let from_empty = with_extra_files(EMPTY_ZIP, &extra[1..2]).expect("append to empty");
        assert_eq!(ZipArchive::new(Cursor::new(from_empty)).expect("readable").len(), 1);
    }

    #[test]
    fn parents_results_land_under_parents_step() {
        let input = zip_files(&[("run.sh".into(), b"cat parents/a/out.txt".to_vec())]).unwrap();
        let a = zip_files(&[("out.txt".into(), b"from a".to_vec()), ("d/x".into(), b"x".to_vec())]).unwrap();
        let merged = with_parents(&input, &[("a".into(), a), ("b".into(), Vec::new())]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let written = unpack(&merged, dir.path()).unwrap();
        assert!(written.contains(&"parents/b/".to_string()), "{written:?}");
        assert_eq!(fs::read(dir.path().join("run.sh")).unwrap(), b"cat parents/a/out.txt");
        assert_eq!(fs::read(dir.path().join("parents/a/out.txt")).unwrap(), b"from a");
        assert_eq!(fs::read(dir.path().join("parents/a/d/x")).unwrap(), b"x");
        assert!(with_parents(&input, &[("../x".into(), Vec::new())]).is_err());
    }

    #[test]
    fn safe_relative_path_table() {
        let ok = [("a.txt", "a.txt"), ("dir/b.txt", "dir/b.txt"), ("dir/", "dir"), ("./a//b", "a/b")];
        for (name, want) in ok {
            assert_eq!(safe_relative_path(name), Some(PathBuf::from(want)), "{name:?}");
        }
        let refused = ["", "/etc/passwd", "../x", "a/../../x", "a/../b", "a\\b", "a\0b", ".", "./", "/"];
        for name in refused {
            assert_eq!(safe_relative_path(name), None, "{name:?} should be refused");
        }
    }

    #[test]
    fn zip_files_then_unpack_round_trips() {
        let files = vec![
            ("a.txt".to_string(), b"alpha".to_vec()),
            ("dir/sub/b.bin".to_string(), vec![0u8, 1, 2, 255]),
            ("empty".to_string(), Vec::new()),
        ];
        let bytes = zip_files(&files).expect("zip");
        let dest = tempfile::tempdir().expect("tempdir");
        let mut written = unpack(&bytes, dest.path()).expect("unpack");
        written.sort();
        assert_eq!(written, vec!["a.txt", "dir/sub/b.bin", "empty"]);
        for (name, data) in &files {
            assert_eq!(&fs::read(dest.path().join(name)).expect("read"), data, "{name}");
        }
    }

    #[test]
    fn zip_files_refuses_bad_names_naming_them() {
        for name in ["", "/abs", "../up", "a/../../x", "a\\b", "a\0b"] {
            match zip_files(&[(name.to_string(), b"x".to_vec())]) {
                Err(Error::Fatal(msg)) => assert!(msg.contains(&format!("{name:?}")), "{msg}"),
                other => panic!("{name:?}: expected Fatal, got {other:?}"),
            }
        }
        let dup = [("a".to_string(), vec![]), ("./a".to_string(), vec![])];
        assert!(matches!(zip_files(&dup), Err(Error::Fatal(_))));
        let clash = [("a".to_string(), vec![]), ("a/b".to_string(), vec![])];
        assert!(matches!(zip_files(&clash), Err(Error::Fatal(_))));
    }

    fn raw_zip(build: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        build(&mut writer);
        writer.finish().expect("finish").into_inner()
    }

    #[test]
    fn unpack_refuses_escaping_and_symlink_entries_before_writing() {
        let opts = SimpleFileOptions::default();
        for evil in ["../evil", "/abs/evil", "a/../../evil"] {
            let bytes = raw_zip(|w| {
                w.start_file("first.txt", opts).expect("start");
                w.start_file(evil, opts).expect("start");
                w.write_all(b"x").expect("write");
            });
            let root = tempfile::tempdir().expect("tempdir");
            let dest = root.path().join("dest");
            fs::create_dir(&dest).expect("mkdir");
            assert!(matches!(unpack(&bytes, &dest), Err(Error::Fatal(_))), "{evil}");
            assert!(!root.path().join("evil").exists());
            assert!(!dest.join("first.txt").exists(), "nothing written before the check");
        }
        let link = raw_zip(|w| w.add_symlink("link", "/etc/passwd", opts).expect("symlink"));
        let dest = tempfile::tempdir().expect("tempdir");
        assert!(matches!(unpack(&link, dest.path()), Err(Error::Fatal(_))));
        assert!(matches!(unpack(b"not a zip", dest.path()), Err(Error::Fatal(_))));
    }

    #[test]
    fn unpack_keeps_executable_bit() {
        let bytes = raw_zip(|w| {
            let exec = SimpleFileOptions::default().unix_permissions(0o755);
            w.start_file("tool.sh", exec).expect("start");
            w.add_directory("empty", SimpleFileOptions::default()).expect("dir");
        });
        let dest = tempfile::tempdir().expect("tempdir");
        let written = unpack(&bytes, dest.path()).expect("unpack");
        assert_eq!(written, vec!["tool.sh", "empty/"]);
        let mode = fs::metadata(dest.path().join("tool.sh")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(dest.path().join("empty").is_dir());
    }

    #[test]
    fn small_files_are_stored_and_larger_ones_deflated_both_ways() {
        let big = "a line that repeats\n".repeat(100);
        let src = tempfile::tempdir().expect("tempdir");
        fs::write(src.path().join("small.txt"), b"hello").expect("write");
        fs::write(src.path().join("big.txt"), &big).expect("write");
        let uploaded = zip_files(&[("small.txt".into(), b"hello".to_vec()), ("big.txt".into(), big.clone().into())]);
        for zip in [pack(src.path()).expect("pack"), uploaded.expect("zip")] {
            let mut archive = ZipArchive::new(Cursor::new(zip)).expect("zip");
            let small = archive.by_name("small.txt").expect("small");
            assert_eq!(small.compression(), CompressionMethod::Stored);
            drop(small);
            let mut large = archive.by_name("big.txt").expect("big");
            assert_eq!(large.compression(), CompressionMethod::Deflated);
            let mut text = String::new();
            large.read_to_string(&mut text).expect("read");
            assert_eq!(text, big);
        }
    }

    #[test]
    fn pack_stores_relative_paths_empty_dirs_and_skips_symlinks() {
        let src = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(src.path().join("d/empty")).expect("mkdir");
        fs::write(src.path().join("d/f.txt"), b"content").expect("write");
        std::os::unix::fs::symlink("/etc/hostname", src.path().join("leak")).expect("symlink");
        let zip = pack(src.path()).expect("pack");
        let mut archive = ZipArchive::new(Cursor::new(zip)).expect("zip");
        let mut names: Vec<String> = archive.file_names().map(|n| n.expect("name").into_owned()).collect();
        names.sort();
        assert_eq!(names, vec!["d/", "d/empty/", "d/f.txt"]);
        let mut text = String::new();
        archive.by_name("d/f.txt").expect("entry").read_to_string(&mut text).expect("read");
        assert_eq!(text, "content");
    }

    /// A process the job left running swaps a folder of the run for a link to elsewhere, over and
    /// over, while the worker packs (as root): no pack may contain anything from the link's target.
    /// Walking by path, a pack that listed the folder before the swap and read it after followed
    /// the link (a link in the middle of a path is followed whatever `O_NOFOLLOW` says).
    #[test]
    fn a_folder_swapped_for_a_link_while_packing_is_never_followed() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let run = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        fs::write(outside.path().join("secret.txt"), b"not the job's").expect("write");
        let sub = run.path().join("sub");
        let real = run.path().join("sub.real");
        fs::create_dir(&sub).expect("mkdir");
        // Files packed between the look at `sub` and its read (a walk packs a folder's other
        // entries before it descends): the window a swap has to fall into.
        for i in 0..300 {
            fs::write(run.path().join(format!("a{i:03}")), b"x").expect("write");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, sub, real, target) = (stop.clone(), sub.clone(), real.clone(), outside.path().to_path_buf());
            std::thread::spawn(move || {
                // Each state lasts a little while, as a job's own loop would make it.
                let hold = std::time::Duration::from_micros(100);
                while !stop.load(Ordering::SeqCst) {
                    let _ = fs::rename(&sub, &real);
                    let _ = std::os::unix::fs::symlink(&target, &sub);
                    std::thread::sleep(hold);
                    let _ = fs::remove_file(&sub);
                    let _ = fs::rename(&real, &sub);
                    std::thread::sleep(hold);
                }
            })
        };
        let mut leaked = Vec::new();
        for _ in 0..200 {
            let Ok(zip) = pack(run.path()) else { continue };
            let archive = ZipArchive::new(Cursor::new(zip)).expect("zip");
            let names = archive.file_names().filter_map(|n| n.ok().map(|n| n.into_owned()));
            leaked.extend(names.filter(|n| n.ends_with("secret.txt")));
        }
        stop.store(true, Ordering::SeqCst);
        swapper.join().expect("swapper");
        assert!(leaked.is_empty(), "packed from outside the run folder: {leaked:?}");
    }
}
