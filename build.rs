// Link the preload library with `-z defs`: an undefined symbol (for example
// `rust_eh_personality` in a no_std cdylib) must fail the build, not kill
// every preloaded process at load time.
//
// `-z separate-loadable-segments`: every segment starts on a page of its
// own, so the relocated data (RELRO: .init_array, .data.rel.ro, .got) is
// one page instead of straddling two by chance of the code's size; the
// loader then writes (copy-on-write faults) two pages of ours at every
// exec, RELRO and .data/.bss, as for an empty .so (issue 11: page faults).
//
// musl: the libc crate asks for `-lc` only when std is built, so the no_std
// cdylib would link no libc at all (and fail under `-z defs`): ask for it
// here. The musl cdylib also needs `-C target-feature=-crt-static`, given to
// the library's compile only (scripts/build-musl), never to the whole target:
// the std wrapper would then need libgcc_s.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") {
        println!("cargo:rustc-link-lib=c");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
