//! Shared inventory: which channels get a figure from jaego, and what that
//! figure is.
//!
//! A merchant turns shared inventory on for the tenant and chooses its
//! scope (seed 004): every channel ("all stores": every shop account the
//! merchant sells through), the channels of some kinds ("some channels": a
//! marketplace platform such as every `marketplace` account), or a chosen
//! list of channels ("some stores": individual shop accounts). Each channel
//! also has its own switch, on unless turned off, and its own publish
//! settings (seed 002): the basis (`on_hand`, `available`, a fixed number
//! such as 9999, or `untracked`) and a buffer kept back.
//!
//! A sharing channel's figure for a SKU is the sum of the basis over the
//! channel's linked locations, less the buffer, never below zero, then
//! forced to 0 by a forced sold-out (or a low-stock sold-out) and capped by
//! a limited-stock status (seed 001). Pure: the store reads the inputs and
//! writes the answer.

use std::fmt;

use crate::balance::Balance;
use crate::error::{InvalidInput, Validator};
use crate::ids::ChannelId;
use crate::limits::{
    CHANNEL_BUFFER_MAX, CODE_LEN_MAX, FIXED_FIGURE_MAX, SHARING_CHANNEL_KINDS_MAX,
    SHARING_CHANNELS_MAX,
};

/// What a channel is sent for a SKU (seed 002, 마켓전송기준).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishBasis {
    /// Units physically there (현재재고): stock leaves it when it ships.
    OnHand,
    /// Units that can still be promised (가용재고): stock leaves it when an
    /// order takes it. The default.
    Available,
    /// Always this number (임의재고, e.g. 9999), whatever the stock.
    Fixed(i64),
    /// No figure at all: the channel keeps its own (쇼핑몰재고).
    Untracked,
}

impl PublishBasis {
    /// The name used on the wire and in storage (`fixed` without its number).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishBasis::OnHand => "on_hand",
            PublishBasis::Available => "available",
            PublishBasis::Fixed(_) => "fixed",
            PublishBasis::Untracked => "untracked",
        }
    }

    /// The fixed number, for `fixed`.
    pub fn fixed_figure(self) -> Option<i64> {
        match self {
            PublishBasis::Fixed(n) => Some(n),
            _ => None,
        }
    }

    /// Parses a basis name and, for `fixed`, its number; names `field` and
    /// `fixed_field` in the error.
    pub fn parse(
        field: &str,
        name: &str,
        fixed_field: &str,
        fixed: Option<i64>,
    ) -> Result<PublishBasis, InvalidInput> {
        let basis = match name {
            "on_hand" => PublishBasis::OnHand,
            "available" => PublishBasis::Available,
            "untracked" => PublishBasis::Untracked,
            "fixed" => {
                let n = fixed.ok_or_else(|| {
                    InvalidInput::one(fixed_field, "is required when the basis is fixed")
                })?;
                if !(0..=FIXED_FIGURE_MAX).contains(&n) {
                    return Err(InvalidInput::one(
                        fixed_field,
                        format!("must be between 0 and {FIXED_FIGURE_MAX}"),
                    ));
                }
                return Ok(PublishBasis::Fixed(n));
            }
            other => {
                return Err(InvalidInput::one(
                    field,
                    format!("{other:?}: expected on_hand, available, fixed or untracked"),
                ));
            }
        };
        if fixed.is_some() {
            return Err(InvalidInput::one(
                fixed_field,
                "is only for the fixed basis",
            ));
        }
        Ok(basis)
    }
}

impl fmt::Display for PublishBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishBasis::Fixed(n) => write!(f, "fixed({n})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Which channels the tenant's shared inventory reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharingScope {
    /// Every channel of the tenant, including ones created later.
    AllStores,
    /// Channels whose `kind` is one of these (a platform: `marketplace`,
    /// `web`, `table_order`, …).
    SomeChannels(Vec<String>),
    /// Only these channels.
    SomeStores(Vec<ChannelId>),
}

impl SharingScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            SharingScope::AllStores => "all_stores",
            SharingScope::SomeChannels(_) => "some_channels",
            SharingScope::SomeStores(_) => "some_stores",
        }
    }

    /// Builds a scope from its name and lists, checking that only the list
    /// the scope uses is given and that it is within the limits.
    pub fn parse(
        name: &str,
        kinds: Vec<String>,
        channels: Vec<ChannelId>,
    ) -> Result<SharingScope, InvalidInput> {
        let mut v = Validator::new();
        let (wants_kinds, wants_channels) = match name {
            "all_stores" => (false, false),
            "some_channels" => (true, false),
            "some_stores" => (false, true),
            other => {
                return Err(InvalidInput::one(
                    "scope",
                    format!("{other:?}: expected all_stores, some_channels or some_stores"),
                ));
            }
        };
        if wants_kinds {
            if kinds.is_empty() || kinds.len() > SHARING_CHANNEL_KINDS_MAX {
                v.push(
                    "channel_kinds",
                    format!("must list 1 to {SHARING_CHANNEL_KINDS_MAX} channel kinds"),
                );
            }
            for (i, kind) in kinds.iter().enumerate() {
                v.code(&format!("channel_kinds[{i}]"), kind, CODE_LEN_MAX);
                if kinds[..i].contains(kind) {
                    v.push(format!("channel_kinds[{i}]"), "is listed twice");
                }
            }
        } else if !kinds.is_empty() {
            v.push("channel_kinds", "is only for the some_channels scope");
        }
        if wants_channels {
            if channels.is_empty() || channels.len() > SHARING_CHANNELS_MAX {
                v.push(
                    "channels",
                    format!("must list 1 to {SHARING_CHANNELS_MAX} channels"),
                );
            }
            for (i, c) in channels.iter().enumerate() {
                if channels[..i].contains(c) {
                    v.push(format!("channels[{i}]"), "is listed twice");
                }
            }
        } else if !channels.is_empty() {
            v.push("channels", "is only for the some_stores scope");
        }
        v.finish()?;
        Ok(match (wants_kinds, wants_channels) {
            (true, _) => SharingScope::SomeChannels(kinds),
            (_, true) => SharingScope::SomeStores(channels),
            _ => SharingScope::AllStores,
        })
    }

    /// Whether a channel with this id and kind is in the scope.
    pub fn includes(&self, channel: ChannelId, kind: &str) -> bool {
        match self {
            SharingScope::AllStores => true,
            SharingScope::SomeChannels(kinds) => kinds.iter().any(|k| k == kind),
            SharingScope::SomeStores(channels) => channels.contains(&channel),
        }
    }
}

/// The tenant's shared-inventory switch and scope. Off until turned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSharing {
    pub enabled: bool,
    pub scope: SharingScope,
}

impl Default for TenantSharing {
    fn default() -> Self {
        TenantSharing {
            enabled: false,
            scope: SharingScope::AllStores,
        }
    }
}

/// One channel's own sharing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSharing {
    /// The channel's own switch: off keeps it out of sharing whatever the
    /// tenant's scope says.
    pub enabled: bool,
    pub basis: PublishBasis,
    /// Units kept back from the channel: subtracted from a stock-based
    /// figure (not from a fixed one).
    pub buffer: i64,
}

impl Default for ChannelSharing {
    fn default() -> Self {
        ChannelSharing {
            enabled: true,
            basis: PublishBasis::Available,
            buffer: 0,
        }
    }
}

impl ChannelSharing {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if !(0..=CHANNEL_BUFFER_MAX).contains(&self.buffer) {
            return Err(InvalidInput::one(
                "buffer",
                format!("must be between 0 and {CHANNEL_BUFFER_MAX}"),
            ));
        }
        Ok(())
    }
}

/// Whether shared inventory is on for a channel: the tenant's switch is on,
/// the tenant's scope includes the channel, and the channel's own switch is
/// on. While it is, jaego owns the channel's figures and manual edits of
/// published ones are refused.
pub fn sharing_on(
    tenant: &TenantSharing,
    channel: ChannelId,
    kind: &str,
    settings: &ChannelSharing,
) -> bool {
    tenant.enabled && settings.enabled && tenant.scope.includes(channel, kind)
}

/// What holds a SKU back on channels, from its product status and low-stock
/// actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holds {
    /// The merchant forced the SKU sold out (강제품절).
    pub forced_sold_out: bool,
    /// A low-stock rule's "mark sold-out on channels" action fired for the
    /// SKU on this channel and stock has not recovered yet.
    pub low_stock_sold_out: bool,
    /// At most this many units are published (재고한정).
    pub limited_stock: Option<i64>,
}

/// Everything a channel figure depends on, for one SKU on one channel.
#[derive(Debug, Clone, Copy)]
pub struct FigureInput<'a> {
    pub settings: ChannelSharing,
    /// The SKU's balances at the channel's linked locations (missing rows
    /// count as zeros and may be left out).
    pub balances: &'a [Balance],
    /// The SKU's `tracked` flag (재고관리 사용여부).
    pub sku_tracked: bool,
    /// The merchant excluded the SKU from this channel's sync.
    pub excluded: bool,
    pub holds: Holds,
}

/// Why jaego publishes no figure for a SKU on a sharing channel: the
/// channel keeps its own, and it may be edited by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSynced {
    /// The SKU is excluded from this channel's sync.
    Excluded,
    /// The channel's basis is `untracked`.
    BasisUntracked,
    /// The SKU's stock is not tracked, so there is no stock figure to send
    /// (a `fixed` basis still sends its number).
    SkuUntracked,
}

impl NotSynced {
    pub fn as_str(self) -> &'static str {
        match self {
            NotSynced::Excluded => "excluded",
            NotSynced::BasisUntracked => "basis_untracked",
            NotSynced::SkuUntracked => "sku_untracked",
        }
    }
}

/// Why a published figure is what it is, by precedence: a sold-out hold
/// wins over a cap, which wins over the basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureReason {
    /// The basis (less the buffer) decided.
    Basis(PublishBasis),
    /// Forced sold out by the product status.
    ForcedSoldOut,
    /// Marked sold out by a low-stock action.
    LowStock,
    /// Capped by the limited-stock status.
    Limited,
}

impl FigureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FigureReason::Basis(basis) => basis.as_str(),
            FigureReason::ForcedSoldOut => "forced_sold_out",
            FigureReason::LowStock => "low_stock",
            FigureReason::Limited => "limited",
        }
    }
}

/// What a sharing channel is sent for one SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// This figure, for this reason.
    Figure { figure: i64, reason: FigureReason },
    /// No figure: the channel keeps its own.
    NotSynced(NotSynced),
}

impl Published {
    pub fn figure(self) -> Option<i64> {
        match self {
            Published::Figure { figure, .. } => Some(figure),
            Published::NotSynced(_) => None,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Published::Figure { reason, .. } => reason.as_str(),
            Published::NotSynced(why) => why.as_str(),
        }
    }
}

/// The units a SKU's balances give a channel under a stock basis: each
/// location counts its figure, a negative one (a backorder under
/// `unlimited`) as zero, since one location's backorder does not take
/// units away from another.
pub fn pool(balances: &[Balance], basis: PublishBasis) -> i64 {
    balances
        .iter()
        .map(|b| match basis {
            PublishBasis::OnHand => b.on_hand,
            _ => b.available(),
        })
        .map(|n| n.max(0))
        .fold(0i64, i64::saturating_add)
}

/// The figure a sharing channel gets for one SKU. In order: an excluded
/// SKU, an `untracked` basis and (for stock bases) an untracked SKU get no
/// figure; a forced or low-stock sold-out gets 0; otherwise the basis
/// (fixed, or the sum over the linked locations less the buffer, never
/// below 0), capped by a limited-stock status.
pub fn figure(input: &FigureInput<'_>) -> Published {
    let basis = input.settings.basis;
    if input.excluded {
        return Published::NotSynced(NotSynced::Excluded);
    }
    if basis == PublishBasis::Untracked {
        return Published::NotSynced(NotSynced::BasisUntracked);
    }
    if !input.sku_tracked && basis.fixed_figure().is_none() {
        return Published::NotSynced(NotSynced::SkuUntracked);
    }
    if input.holds.forced_sold_out {
        return Published::Figure {
            figure: 0,
            reason: FigureReason::ForcedSoldOut,
        };
    }
    if input.holds.low_stock_sold_out {
        return Published::Figure {
            figure: 0,
            reason: FigureReason::LowStock,
        };
    }
    let base = match basis {
        PublishBasis::Fixed(n) => n,
        stock => pool(input.balances, stock)
            .saturating_sub(input.settings.buffer)
            .max(0),
    };
    match input.holds.limited_stock {
        Some(cap) if cap.max(0) < base => Published::Figure {
            figure: cap.max(0),
            reason: FigureReason::Limited,
        },
        _ => Published::Figure {
            figure: base,
            reason: FigureReason::Basis(basis),
        },
    }
}

/// Whether a manual edit of a channel's figure for a SKU is refused: only
/// while sharing is on for the channel and jaego publishes a figure for the
/// SKU there. An excluded SKU, an `untracked` basis or a channel outside
/// sharing leave the figure to the merchant.
pub fn manual_edit_locked(sharing: bool, published: Published) -> bool {
    sharing && matches!(published, Published::Figure { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(on_hand: i64, reserved: i64) -> Balance {
        Balance {
            on_hand,
            reserved,
            ..Balance::default()
        }
    }

    fn settings(basis: PublishBasis, buffer: i64) -> ChannelSharing {
        ChannelSharing {
            enabled: true,
            basis,
            buffer,
        }
    }

    /// One row: the settings, the balances at the linked locations, the
    /// SKU's flags, and what the channel is sent.
    struct Case {
        name: &'static str,
        basis: PublishBasis,
        buffer: i64,
        balances: Vec<Balance>,
        tracked: bool,
        excluded: bool,
        holds: Holds,
        expected: Published,
    }

    fn case(name: &'static str, basis: PublishBasis, balances: Vec<Balance>) -> Case {
        Case {
            name,
            basis,
            buffer: 0,
            balances,
            tracked: true,
            excluded: false,
            holds: Holds::default(),
            expected: Published::NotSynced(NotSynced::Excluded),
        }
    }

    fn shown(figure: i64, reason: FigureReason) -> Published {
        Published::Figure { figure, reason }
    }

    fn check(cases: Vec<Case>) {
        for c in cases {
            let input = FigureInput {
                settings: settings(c.basis, c.buffer),
                balances: &c.balances,
                sku_tracked: c.tracked,
                excluded: c.excluded,
                holds: c.holds,
            };
            assert_eq!(figure(&input), c.expected, "{}", c.name);
        }
    }

    #[test]
    fn figures_by_basis_buffer_exclusion_and_status() {
        use FigureReason::Basis;
        use PublishBasis::*;
        // Two linked locations: 10 on hand with 3 reserved, 5 on hand.
        let two = || vec![at(10, 3), at(5, 0)];
        let cap = |n| Holds {
            limited_stock: Some(n),
            ..Holds::default()
        };
        let forced = Holds {
            forced_sold_out: true,
            ..Holds::default()
        };
        let low = Holds {
            low_stock_sold_out: true,
            ..Holds::default()
        };
        check(vec![
            Case {
                expected: shown(15, Basis(OnHand)),
                ..case("on hand sums the linked locations", OnHand, two())
            },
            Case {
                expected: shown(12, Basis(Available)),
                ..case("available sums available", Available, two())
            },
            Case {
                expected: shown(9999, Basis(Fixed(9999))),
                ..case("fixed ignores stock", Fixed(9999), two())
            },
            Case {
                expected: Published::NotSynced(NotSynced::BasisUntracked),
                ..case("untracked sends nothing", Untracked, two())
            },
            Case {
                buffer: 2,
                expected: shown(10, Basis(Available)),
                ..case("the buffer is kept back", Available, two())
            },
            Case {
                buffer: 50,
                expected: shown(0, Basis(Available)),
                ..case("never below zero", Available, two())
            },
            Case {
                buffer: 5,
                expected: shown(9999, Basis(Fixed(9999))),
                ..case("no buffer on a fixed figure", Fixed(9999), two())
            },
            Case {
                expected: shown(5, Basis(Available)),
                ..case(
                    "a backorder at one location takes nothing from another",
                    Available,
                    vec![at(0, 4), at(5, 0)],
                )
            },
            Case {
                expected: shown(0, Basis(Available)),
                ..case("no linked stock is zero", Available, vec![])
            },
            Case {
                excluded: true,
                expected: Published::NotSynced(NotSynced::Excluded),
                ..case("an excluded SKU is not synced", Available, two())
            },
            Case {
                excluded: true,
                holds: forced,
                expected: Published::NotSynced(NotSynced::Excluded),
                ..case("exclusion wins over status", Available, two())
            },
            Case {
                tracked: false,
                expected: Published::NotSynced(NotSynced::SkuUntracked),
                ..case("an untracked SKU has no stock figure", OnHand, two())
            },
            Case {
                tracked: false,
                expected: shown(9999, Basis(Fixed(9999))),
                ..case("but a fixed figure still goes", Fixed(9999), two())
            },
            Case {
                holds: forced,
                expected: shown(0, FigureReason::ForcedSoldOut),
                ..case("forced sold-out is zero", Available, two())
            },
            Case {
                holds: forced,
                expected: shown(0, FigureReason::ForcedSoldOut),
                ..case("even on a fixed basis", Fixed(9999), two())
            },
            Case {
                holds: low,
                expected: shown(0, FigureReason::LowStock),
                ..case("a low-stock sold-out is zero", OnHand, two())
            },
            Case {
                holds: cap(4),
                expected: shown(4, FigureReason::Limited),
                ..case("limited stock caps", Available, two())
            },
            Case {
                holds: cap(40),
                expected: shown(12, Basis(Available)),
                ..case("a cap above the figure changes nothing", Available, two())
            },
            Case {
                holds: cap(100),
                expected: shown(100, FigureReason::Limited),
                ..case("a cap limits a fixed figure too", Fixed(9999), two())
            },
            Case {
                holds: Holds {
                    forced_sold_out: true,
                    limited_stock: Some(3),
                    ..Holds::default()
                },
                expected: shown(0, FigureReason::ForcedSoldOut),
                ..case("sold-out wins over a cap", Available, two())
            },
        ]);
    }

    #[test]
    fn scope_decides_which_channels_share() {
        let a = ChannelId::new();
        let b = ChannelId::new();
        let on = ChannelSharing::default();
        let off = ChannelSharing {
            enabled: false,
            ..on
        };
        let tenant = |enabled, scope| TenantSharing { enabled, scope };
        let cases = [
            // (name, tenant, channel, kind, channel settings, expected)
            (
                "all stores",
                tenant(true, SharingScope::AllStores),
                a,
                "web",
                on,
                true,
            ),
            (
                "tenant switch off",
                tenant(false, SharingScope::AllStores),
                a,
                "web",
                on,
                false,
            ),
            (
                "channel switch off",
                tenant(true, SharingScope::AllStores),
                a,
                "web",
                off,
                false,
            ),
            (
                "kind in scope",
                tenant(true, SharingScope::SomeChannels(vec!["marketplace".into()])),
                a,
                "marketplace",
                on,
                true,
            ),
            (
                "kind out of scope",
                tenant(true, SharingScope::SomeChannels(vec!["marketplace".into()])),
                a,
                "web",
                on,
                false,
            ),
            (
                "listed channel",
                tenant(true, SharingScope::SomeStores(vec![a])),
                a,
                "web",
                on,
                true,
            ),
            (
                "unlisted channel",
                tenant(true, SharingScope::SomeStores(vec![a])),
                b,
                "web",
                on,
                false,
            ),
            (
                "listed but switched off",
                tenant(true, SharingScope::SomeStores(vec![a])),
                a,
                "web",
                off,
                false,
            ),
        ];
        for (name, t, channel, kind, settings, expected) in cases {
            assert_eq!(sharing_on(&t, channel, kind, &settings), expected, "{name}");
        }
    }

    #[test]
    fn manual_edits_are_locked_only_for_published_figures() {
        let shown = Published::Figure {
            figure: 3,
            reason: FigureReason::Basis(PublishBasis::Available),
        };
        assert!(manual_edit_locked(true, shown));
        assert!(!manual_edit_locked(false, shown));
        for why in [
            NotSynced::Excluded,
            NotSynced::BasisUntracked,
            NotSynced::SkuUntracked,
        ] {
            assert!(
                !manual_edit_locked(true, Published::NotSynced(why)),
                "{why:?}"
            );
        }
    }

    #[test]
    fn parsing() {
        assert_eq!(
            PublishBasis::parse("basis", "fixed", "fixed_figure", Some(9999)),
            Ok(PublishBasis::Fixed(9999))
        );
        let bad = [
            ("fixed", None, "fixed_figure"),
            ("fixed", Some(-1), "fixed_figure"),
            ("available", Some(5), "fixed_figure"),
            ("all", None, "basis"),
        ];
        for (name, fixed, field) in bad {
            let err = PublishBasis::parse("basis", name, "fixed_figure", fixed).unwrap_err();
            assert_eq!(err.violations[0].field, field, "{name} {fixed:?}");
        }
        assert!(SharingScope::parse("all_stores", vec![], vec![]).is_ok());
        let err = SharingScope::parse("some_channels", vec![], vec![]).unwrap_err();
        assert_eq!(err.violations[0].field, "channel_kinds");
        let err = SharingScope::parse("some_stores", vec!["web".into()], vec![ChannelId::new()])
            .unwrap_err();
        assert_eq!(err.violations[0].field, "channel_kinds");
        let err = SharingScope::parse("everything", vec![], vec![]).unwrap_err();
        assert_eq!(err.violations[0].field, "scope");
    }
}
