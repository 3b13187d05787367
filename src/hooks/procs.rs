//! Making processes: fork, _Fork, vfork, posix_spawn, posix_spawnp,
//! system, popen. A child shares descriptors with this process: the trust
//! cache (`fdtable::trust`) stops trusting those it may touch. Each hook
//! ends in a tail call.
#![allow(clippy::missing_safety_doc)]

use crate::config::ENABLED;
use crate::fdtable::{self, trust};
use crate::real;
use core::sync::atomic::Ordering::Relaxed;
use libc::{c_char, c_int, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};

/// A vfork child shares the parent's memory, and with it this library's
/// descriptor table, but not the parent's descriptors (see
/// `fdtable::vfork`). vfork itself is left exactly as it is (shared memory,
/// the parent waiting for exec or _exit): the real function is reached by a
/// jump, with no frame of ours on the stack the child shares.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    if ENABLED.load(Relaxed) {
        fdtable::vfork::begin();
    }
    // The child inherits every descriptor without close-on-exec.
    trust::spawning();
    // SAFETY: no arguments; the real vfork.
    unsafe { real::vfork() }
}

/// A fork child gets its own copy of the table: a vfork note inherited
/// from the parent (set when the parent vforked and has not changed the
/// table since) must not freeze it. glibc's fork reaches _Fork internally,
/// so both entry points are hooked; nothing is registered with
/// pthread_atfork.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fork() -> libc::pid_t {
    // Parent and child share every descriptor from now on.
    trust::forking();
    // SAFETY: no arguments; the real fork.
    forked(unsafe { real::fork() })
}

/// `_Fork` (glibc 2.34): fork without the atfork handlers, see `fork`.
#[unsafe(no_mangle)]
#[allow(non_snake_case)]
pub unsafe extern "C" fn _Fork() -> libc::pid_t {
    trust::forking();
    // SAFETY: no arguments; the real _Fork.
    forked(unsafe { real::_Fork() })
}

/// What a fork returned: 0 in the child, which clears its vfork note.
#[inline(always)]
fn forked(pid: libc::pid_t) -> libc::pid_t {
    if pid == 0 {
        fdtable::vfork::forked();
    }
    pid
}

/// A spawn with file actions may dup any descriptor, close-on-exec or
/// not, into the child: that counts as a fork.
#[inline(always)]
fn spawns(fa: *const posix_spawn_file_actions_t) {
    if fa.is_null() {
        trust::spawning();
    } else {
        trust::forking();
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    fa: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawns(fa);
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { real::posix_spawn(pid, path, fa, attr, argv, envp) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    fa: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawns(fa);
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { real::posix_spawnp(pid, file, fa, attr, argv, envp) }
}

/// glibc's system spawns the shell inside libc (no posix_spawn call).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(cmd: *const c_char) -> c_int {
    trust::spawning();
    // SAFETY: the caller's argument, passed on unchanged.
    unsafe { real::system(cmd) }
}

/// glibc's popen spawns the shell inside libc (no posix_spawn call).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    trust::spawning();
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { real::popen(cmd, mode) }
}
