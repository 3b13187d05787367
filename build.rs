// Link the preload library with `-z defs`: an undefined symbol (for example
// `rust_eh_personality` in a no_std cdylib) must fail the build, not kill
// every preloaded process at load time.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");
    println!("cargo:rerun-if-changed=build.rs");
}
