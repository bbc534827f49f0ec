//! Gives the shared library the SONAME it is installed under (`liblsmedic.so`, see
//! Cargo.toml), so that programs linked against the renamed copy look for that name.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblsmedic.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
