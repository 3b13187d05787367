//! No import cycle in the library or in the wrapper (issue 9): between
//! top-level modules and between files, as `scripts/layers.py` reads the
//! `crate::` and `super::` paths.

mod common;

use common::{manifest_dir, python3};
use std::process::Command;

#[test]
fn library_and_wrapper_have_no_import_cycle() {
    for root in ["src", "src/bin/timeoutsock"] {
        let out = Command::new(python3())
            .arg("scripts/layers.py")
            .arg(root)
            .current_dir(manifest_dir())
            .output()
            .expect("run scripts/layers.py");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("files cycles: none"),
            "{root}: {:?}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
