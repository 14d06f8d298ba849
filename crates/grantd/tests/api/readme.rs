//! The README's provider table is generated from the catalog; this keeps it
//! from drifting.

use grantd::domain::catalog::Catalog;

const START: &str = "<!-- providers:start -->\n";
const END: &str = "<!-- providers:end -->";

#[test]
fn readme_lists_every_shipped_provider() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(START)
        .expect("README has the providers:start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the providers:end marker");
    let table = Catalog::load(None).unwrap().markdown_table();
    if readme[start..end] == table {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "README's provider table is out of date: run UPDATE_README=1 cargo test -p grantd readme"
    );
}
