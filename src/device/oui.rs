//! The IEEE MAC address registry: which organisation a MAC's block was
//! assigned to, and whether that organisation is a medical manufacturer.
//!
//! The data are `rules/oui.tsv` (generated from Debian's `ieee-data` by
//! `scripts/make-oui.py`) and `rules/medical_vendors.toml`, both embedded in
//! the binary so that an installed medtap needs no data files. Blocks are
//! 24-bit (MA-L, the classic OUI), 28-bit (MA-M) or 36-bit (MA-S and the
//! older IAB); the IEEE hands out MA-M and MA-S blocks inside MA-L blocks
//! registered to itself, so the longest matching prefix names the owner.

use crate::config::span::{self, Located};
use crate::net::Mac;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use toml::Spanned;

/// The embedded registry table.
pub const BUILTIN_OUI: &str = include_str!("../../rules/oui.tsv");
/// The embedded medical manufacturer list.
pub const BUILTIN_MEDICAL: &str = include_str!("../../rules/medical_vendors.toml");

/// Errors in the registry table or the medical list; each names the line.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// A malformed line of the registry table.
    #[error("oui.tsv:{line}: {problem}")]
    Oui {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A problem in the medical vendor list (`medical_vendors.toml`), with
    /// its line and key.
    #[error(transparent)]
    Medical(#[from] Located),
}

/// The size of an IEEE block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Block {
    /// MA-L: a 24-bit prefix (the classic OUI).
    MaL,
    /// MA-M: a 28-bit prefix.
    MaM,
    /// MA-S: a 36-bit prefix; also the older IAB blocks, the same size.
    MaS,
}

impl Block {
    /// Prefix length in bits.
    pub fn bits(self) -> u32 {
        match self {
            Block::MaL => 24,
            Block::MaM => 28,
            Block::MaS => 36,
        }
    }

    /// The registry's name: `MA-L`, `MA-M`, `MA-S`.
    pub fn name(self) -> &'static str {
        match self {
            Block::MaL => "MA-L",
            Block::MaM => "MA-M",
            Block::MaS => "MA-S",
        }
    }

    fn from_bits(bits: u32) -> Option<Block> {
        match bits {
            24 => Some(Block::MaL),
            28 => Some(Block::MaM),
            36 => Some(Block::MaS),
            _ => None,
        }
    }
}

/// What the registry says about a MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vendor<'a> {
    /// The organisation the block is registered to, verbatim.
    pub organization: &'a str,
    /// True when the organisation is in the medical manufacturer list.
    pub medical: bool,
    /// The block that matched (the longest).
    pub block: Block,
    /// The medical manufacturer's display name (`medical_vendors.toml`
    /// `name`), when medical.
    pub medical_name: Option<&'a str>,
}

/// Sorted prefixes of one block size and the organisation of each.
#[derive(Debug, Default)]
struct Table {
    prefixes: Vec<u64>,
    orgs: Vec<u32>,
}

impl Table {
    fn get(&self, prefix: u64) -> Option<u32> {
        let i = self.prefixes.binary_search(&prefix).ok()?;
        self.orgs.get(i).copied()
    }

    fn heap_bytes(&self) -> usize {
        self.prefixes.capacity() * 8 + self.orgs.capacity() * 4
    }
}

/// The registry: immutable once loaded, lookups by binary search without
/// allocation; `Send + Sync`, so one table serves every thread.
#[derive(Debug, Default)]
pub struct Vendors {
    /// 24-, 28- and 36-bit blocks.
    tables: [Table; 3],
    /// Every distinct organisation name, back to back.
    names: String,
    /// Organisation index → byte range in `names`.
    name_spans: Vec<(u32, u32)>,
    /// Organisation index → 0, or 1 + index in `medical_names`.
    medical_of: Vec<u16>,
    /// Display names of the medical manufacturers.
    medical_names: Vec<Box<str>>,
}

/// `medical_vendors.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MedicalFile {
    #[serde(default)]
    vendor: Vec<Spanned<MedicalVendor>>,
}

/// One `[[vendor]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MedicalVendor {
    name: Spanned<String>,
    orgs: Vec<Spanned<String>>,
}

impl Vendors {
    /// The embedded registry and medical list, parsed on first use.
    ///
    /// Both files are compiled in and a unit test parses them, so this
    /// cannot fail in a released binary; if it ever did, the error is
    /// logged and an empty table (no vendor for any MAC) is returned rather
    /// than stopping the capture.
    pub fn builtin() -> &'static Vendors {
        static BUILTIN: OnceLock<Vendors> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Vendors::parse(BUILTIN_OUI, BUILTIN_MEDICAL).unwrap_or_else(|e| {
                tracing::error!(error = %e, "built-in vendor table is invalid; no MAC vendors");
                Vendors::default()
            })
        })
    }

    /// Parses a registry table (`PREFIXHEX<TAB>BITS<TAB>ORGANIZATION`
    /// lines, `#` comments) and a medical list (`[[vendor]]` tables with
    /// `name` and `orgs`). Every medical organisation must be in the
    /// table; a prefix or an organisation listed twice is an error.
    pub fn parse(oui_tsv: &str, medical_toml: &str) -> Result<Vendors, VendorError> {
        let mut v = Vendors::default();
        let mut index: HashMap<&str, u32> = HashMap::new();
        // (prefix, organisation, line) per block size, sorted below.
        let mut rows: [Vec<(u64, u32, usize)>; 3] = Default::default();
        for (i, raw) in oui_tsv.lines().enumerate() {
            let line = i + 1;
            let bad = |problem: String| VendorError::Oui { line, problem };
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let mut fields = raw.split('\t');
            let (Some(hex), Some(bits), Some(org), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(format!(
                    "expected PREFIX<TAB>BITS<TAB>ORGANIZATION, got {raw:?}"
                )));
            };
            let block = bits
                .parse()
                .ok()
                .and_then(Block::from_bits)
                .ok_or_else(|| bad(format!("{bits:?} bits: expected 24, 28 or 36")))?;
            let prefix = parse_prefix(hex, block)
                .ok_or_else(|| bad(format!("{hex:?} is not a {}-bit hex prefix", block.bits())))?;
            let org = org.trim();
            if org.is_empty() {
                return Err(bad("empty organisation".into()));
            }
            let id = match index.get(org) {
                Some(&id) => id,
                None => {
                    let id = v.intern(org).ok_or_else(|| bad("too many names".into()))?;
                    index.insert(org, id);
                    id
                }
            };
            rows[block as usize].push((prefix, id, line));
        }
        for (table, mut rows) in v.tables.iter_mut().zip(rows) {
            rows.sort_unstable_by_key(|r| (r.0, r.2));
            if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(VendorError::Oui {
                    line: w[1].2,
                    problem: format!("prefix listed again (first on line {})", w[0].2),
                });
            }
            table.prefixes = rows.iter().map(|r| r.0).collect();
            table.orgs = rows.iter().map(|r| r.1).collect();
        }
        v.medical_of = vec![0; v.name_spans.len()];
        v.add_medical(medical_toml, &index)?;
        Ok(v)
    }

    /// Appends a name; its index, or `None` past `u32` offsets.
    fn intern(&mut self, org: &str) -> Option<u32> {
        let start = u32::try_from(self.names.len()).ok()?;
        self.names.push_str(org);
        let end = u32::try_from(self.names.len()).ok()?;
        let id = u32::try_from(self.name_spans.len()).ok()?;
        self.name_spans.push((start, end));
        Some(id)
    }

    fn add_medical(&mut self, text: &str, index: &HashMap<&str, u32>) -> Result<(), VendorError> {
        const FILE: &str = "medical_vendors.toml";
        let file: MedicalFile =
            toml::from_str(text).map_err(|e| Located::from_toml(FILE, text, &e))?;
        let at = |offset: usize, key: String, problem: String| {
            VendorError::Medical(Located::at(FILE, text, offset, Some(key), problem))
        };
        // Organisation → (vendor index, line) of its first listing.
        let mut listed: HashMap<u32, usize> = HashMap::new();
        for (vi, vendor) in file.vendor.iter().enumerate() {
            let vendor = vendor.get_ref();
            let name = vendor.name.get_ref().trim();
            if name.is_empty() {
                let key = format!("vendor[{vi}].name");
                return Err(at(vendor.name.span().start, key, "empty name".into()));
            }
            let Ok(slot) = u16::try_from(self.medical_names.len() + 1) else {
                let key = format!("vendor[{vi}]");
                return Err(at(vendor.name.span().start, key, "too many vendors".into()));
            };
            self.medical_names.push(name.into());
            for (oi, org) in vendor.orgs.iter().enumerate() {
                let key = format!("vendor[{vi}].orgs[{oi}]");
                let start = org.span().start;
                let Some(&id) = index.get(org.get_ref().as_str()) else {
                    let problem = format!(
                        "{:?} is no organisation in the registry table (names must match \
                         rules/oui.tsv exactly)",
                        org.get_ref()
                    );
                    return Err(at(start, key, problem));
                };
                let line = span::line_at(text, start);
                if let Some(first) = listed.insert(id, line) {
                    let problem = format!("{:?} is already listed on line {first}", org.get_ref());
                    return Err(at(start, key, problem));
                }
                if let Some(m) = self.medical_of.get_mut(id as usize) {
                    *m = slot;
                }
            }
        }
        Ok(())
    }

    /// The registered owner of `mac`'s block: the longest matching prefix
    /// (MA-S before MA-M before MA-L). `None` for group and locally
    /// administered addresses (no block behind them) and for blocks the
    /// table does not know (assigned after it was generated).
    pub fn lookup(&self, mac: Mac) -> Option<Vendor<'_>> {
        if mac.is_group() || mac.is_locally_administered() {
            return None;
        }
        let m = mac.0.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        [Block::MaS, Block::MaM, Block::MaL]
            .into_iter()
            .find_map(|block| {
                let org = self.tables[block as usize].get(m >> (48 - block.bits()))?;
                Some((block, org))
            })
            .and_then(|(block, org)| self.vendor(block, org))
    }

    fn vendor(&self, block: Block, org: u32) -> Option<Vendor<'_>> {
        let &(start, end) = self.name_spans.get(org as usize)?;
        let organization = self.names.get(start as usize..end as usize)?;
        let medical_name = match self.medical_of.get(org as usize).copied().unwrap_or(0) {
            0 => None,
            slot => self.medical_names.get(usize::from(slot) - 1).map(|n| &**n),
        };
        Some(Vendor {
            organization,
            medical: medical_name.is_some(),
            block,
            medical_name,
        })
    }

    /// Number of blocks (all sizes).
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.prefixes.len()).sum()
    }

    /// True when no block is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held (capacities of the tables and names), for sizing.
    pub fn heap_bytes(&self) -> usize {
        self.tables.iter().map(Table::heap_bytes).sum::<usize>()
            + self.names.capacity()
            + self.name_spans.capacity() * 8
            + self.medical_of.capacity() * 2
            + self.medical_names.capacity() * 16
            + self.medical_names.iter().map(|n| n.len()).sum::<usize>()
    }
}

/// A prefix of `block`'s size from exactly that many hex digits.
fn parse_prefix(hex: &str, block: Block) -> Option<u64> {
    let digits = block.bits() as usize / 4;
    if hex.len() != digits || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests;
