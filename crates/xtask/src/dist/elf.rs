//! How a binary is linked, read from its ELF headers with `readelf` (binutils, which the Rust
//! toolchain's linker needs anyway), and the Debian packages that provides.

use super::{DistError, run};
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linkage {
    /// No program interpreter and no shared library: runs on any Linux of its architecture.
    Static,
    Dynamic {
        /// The program interpreter (`/lib64/ld-linux-x86-64.so.2`), if any.
        interpreter: Option<String>,
        /// The shared libraries it needs (`DT_NEEDED`).
        needed: Vec<String>,
        /// The newest glibc symbol version it uses (`GLIBC_2.34` gives `(2, 34)`).
        glibc: Option<(u32, u32)>,
    },
}

impl Linkage {
    /// The control file's `Depends` for this binary (empty when static).
    pub fn depends(&self) -> Result<String, DistError> {
        let Linkage::Dynamic { needed, glibc, .. } = self else {
            return Ok(String::new());
        };
        let mut packages: Vec<String> = Vec::new();
        for library in needed {
            let package = match package_of(library) {
                Some("libc6") => match glibc {
                    Some((major, minor)) => format!("libc6 (>= {major}.{minor})"),
                    None => "libc6".to_string(),
                },
                Some(package) => package.to_string(),
                None => return Err(DistError::UnknownLibrary(library.clone())),
            };
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
        Ok(packages.join(", "))
    }
}

/// The Debian package of a shared library a Rust binary links.
fn package_of(library: &str) -> Option<&'static str> {
    let glibc = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1"];
    if glibc.contains(&library) || library.starts_with("ld-linux") {
        Some("libc6")
    } else if library == "libgcc_s.so.1" {
        Some("libgcc-s1")
    } else {
        None
    }
}

/// Reads how `binary` is linked.
pub fn linkage(binary: &Path) -> Result<Linkage, DistError> {
    let headers =
        run(Command::new("readelf").args(["--wide", "--program-headers", "--dynamic", "--version-info"]).arg(binary))?;
    Ok(parse_readelf(&headers))
}

/// Parses `readelf --wide --program-headers --dynamic --version-info`.
fn parse_readelf(text: &str) -> Linkage {
    let interpreter = text
        .lines()
        .find_map(|l| l.split_once("[Requesting program interpreter: "))
        .map(|(_, rest)| rest.trim_end().trim_end_matches(']').to_string());
    let needed: Vec<String> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split_once('[').map(|(_, rest)| rest.trim_end().trim_end_matches(']').to_string()))
        .collect();
    if interpreter.is_none() && needed.is_empty() {
        return Linkage::Static;
    }
    let glibc = text
        .split(|c: char| c.is_whitespace())
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let (major, minor) = v.split_once('.')?;
            let minor = minor.split('.').next()?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .max();
    Linkage::Dynamic { interpreter, needed, glibc }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DYNAMIC: &str = "
Program Headers:
  Type           Offset   VirtAddr           PhysAddr           FileSiz  MemSiz   Flg Align
  INTERP         0x0002e0 0x00000000000002e0 0x00000000000002e0 0x00001c 0x00001c R   0x1
      [Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]
Dynamic section at offset 0x97cc8a8 contains 33 entries:
  Tag        Type                         Name/Value
 0x0000000000000001 (NEEDED)             Shared library: [libgcc_s.so.1]
 0x0000000000000001 (NEEDED)             Shared library: [libm.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [ld-linux-x86-64.so.2]
Version needs section '.gnu.version_r' contains 4 entries:
  0x0050:   Name: GLIBC_2.3.4  Flags: none  Version: 13
  0x0060:   Name: GLIBC_2.34  Flags: none  Version: 12
  0x0070:   Name: GLIBC_2.9  Flags: none  Version: 11
  0x0080:   Name: GCC_4.2.0  Flags: none  Version: 3
";

    #[test]
    fn a_dynamic_binary_depends_on_the_newest_glibc_it_uses_and_libgcc() {
        let linkage = parse_readelf(DYNAMIC);
        assert_eq!(
            linkage,
            Linkage::Dynamic {
                interpreter: Some("/lib64/ld-linux-x86-64.so.2".to_string()),
                needed: ["libgcc_s.so.1", "libm.so.6", "libc.so.6", "ld-linux-x86-64.so.2"].map(String::from).to_vec(),
                glibc: Some((2, 34)),
            }
        );
        assert_eq!(linkage.depends().ok().as_deref(), Some("libgcc-s1, libc6 (>= 2.34)"));
    }

    #[test]
    fn a_static_binary_depends_on_nothing() {
        let text = "\nElf file type is EXEC (Executable file)\nThere is no dynamic section in this file.\n";
        assert_eq!(parse_readelf(text), Linkage::Static);
        assert_eq!(Linkage::Static.depends().ok().as_deref(), Some(""));
    }

    #[test]
    fn an_unknown_library_is_an_error_not_a_missing_dependency() {
        let text = " 0x0000000000000001 (NEEDED)             Shared library: [libssl.so.3]\n";
        assert!(matches!(parse_readelf(text).depends(), Err(DistError::UnknownLibrary(l)) if l == "libssl.so.3"));
    }
}
