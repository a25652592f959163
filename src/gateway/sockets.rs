//! The gateway's listening sockets: where a new process meets the running one to take them
//! over (`serve --upgrade`), and how they accept. The upgrade socket's folder must be one only
//! the gateway's user can write, or anyone could hand a new process sockets of their own.
//! Connections are accepted only once their first bytes have arrived (`TCP_DEFER_ACCEPT`,
//! nginx's `deferred`): a connection that never sends costs no accept, and an old process
//! that stops on SIGQUIT holds no connection whose request has not arrived yet.

use std::os::fd::AsRawFd;
#[cfg(test)]
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// Where `serve` and `serve --upgrade` meet to hand over the listening sockets: `[gateway]
/// upgrade_sock`, or `portcullis-upgrade-<port>.sock` in [`runtime_dir`]. Whoever can write
/// that folder can put a socket there that a new process would take for the old one's, so
/// the default is never a shared folder such as `/tmp`.
pub fn upgrade_socket(g: &crate::config::Gateway) -> Result<PathBuf, String> {
    match &g.upgrade_sock {
        Some(path) => Ok(path.clone()),
        None => Ok(runtime_dir()?.join(format!("portcullis-upgrade-{}.sock", g.listen.port()))),
    }
}

/// A folder for the gateway's sockets that only its user can write: systemd's
/// `$RUNTIME_DIRECTORY` (`RuntimeDirectory=portcullis`), else `$XDG_RUNTIME_DIR/portcullis`,
/// else `portcullis-<uid>` in the temporary folder. It is created with mode 0700 when
/// missing; one that exists must be a real folder of this user that no one else can write.
pub fn runtime_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("RUNTIME_DIRECTORY") {
        return private_dir(&dir);
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        return private_dir(&dir.join("portcullis"));
    }
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| format!("cannot tell this user: {e}"))?;
    private_dir(&std::env::temp_dir().join(format!("portcullis-{uid}")))
}

/// `dir`, created 0700 if missing, or refused (naming it and the fix) when it is a link, not
/// owned by this process's user, or writable by others.
pub fn private_dir(dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}; set [gateway] upgrade_sock", dir.display())),
    }
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| format!("cannot tell this user: {e}"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let problem = if !meta.is_dir() {
        Some("it is not a folder (or is a symbolic link)")
    } else if meta.uid() != me {
        Some("another user owns it")
    } else if meta.mode() & 0o022 != 0 {
        Some("others can write to it")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "{} cannot hold the upgrade socket: {p}; remove it, or set [gateway] upgrade_sock to a path in a folder \
             only this user can write",
            dir.display()
        )),
        None => Ok(dir.to_path_buf()),
    }
}

/// Seconds the kernel holds a connection that has sent nothing before handing it over anyway.
const DEFER_ACCEPT_SECS: libc::c_int = 5;

/// Sets `TCP_DEFER_ACCEPT` on a listening socket; whether it took. The option lives on the
/// socket, so a process that takes the socket over in an upgrade keeps it.
pub fn set_defer_accept(socket: &impl AsRawFd) -> bool {
    set_defer_accept_fd(socket.as_raw_fd())
}

fn set_defer_accept_fd(fd: i32) -> bool {
    let value: libc::c_int = DEFER_ACCEPT_SECS;
    // SAFETY: `value` outlives the call and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

#[cfg(test)]
fn getsockopt_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call and `len` is `value`'s size.
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut value).cast(), &raw mut len) };
    (rc == 0).then_some(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::{getsockopt_int, private_dir, set_defer_accept};
    use std::os::fd::AsFd;

    #[test]
    fn the_upgrade_socket_folder_is_private_or_refused() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("portcullis-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let fresh = base.join("fresh");
        assert_eq!(private_dir(&fresh).unwrap(), fresh);
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        let shared = base.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = private_dir(&shared).unwrap_err();
        assert!(err.contains("others can write") && err.contains("upgrade_sock"), "{err}");
        let link = base.join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(private_dir(&link).unwrap_err().contains("symbolic link"));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_deferred_socket_accepts_only_once_data_has_arrived() {
        let ours = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_defer_accept(&ours));
        let deferred = |l: &std::net::TcpListener| getsockopt_int(l.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT);
        assert!(deferred(&ours).is_some_and(|v| v > 0), "{:?}", deferred(&ours));
        assert_eq!(deferred(&other), Some(0), "another socket was changed");
    }
}
