//! The build script of every Lambda function: its executable is linked non-PIE. A
//! position-independent executable carries a dynamic relocation for every pointer in its data
//! (about 1 MiB of `.rela.dyn` per function, a tenth of its size). The cost: the binary's own
//! image is not randomised in memory (its heap, stack and libraries still are).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
