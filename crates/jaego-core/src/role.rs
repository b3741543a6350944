//! Roles of API tokens and users, and what each may do.

use std::fmt;
use std::str::FromStr;

/// Who a token belongs to. Ordered from most to least powerful for the staff
/// roles; `integration` and `display` are special-purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The merchant: everything, including tokens and destructive resets.
    Owner,
    /// Catalog, places, channels, stock and reservations.
    Manager,
    /// Day-to-day stock work: movements, transfers, reservations.
    Staff,
    /// A system calling the API: stock movements and reservations, reads.
    Integration,
    /// A screen that only shows figures: read-only.
    Display,
}

/// What a request wants to do, for the permission check.
///
/// Every API operation needs exactly one permission; the OpenAPI document
/// names it as the operation's bearer scope ([`Permission::scope`]), which
/// is how the access-control tests know what each route expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read anything of the tenant's.
    Read,
    /// Record movements and transfers, reserve, commit and release.
    WriteStock,
    /// Day-to-day order work: collect orders, set flags and notes, run
    /// allocations, customer service, shipments, scans and pickups.
    WriteOrders,
    /// Overrule a check with a reason, such as confirming a shipment whose
    /// scan is incomplete.
    Supervise,
    /// Create and change products, SKUs, locations, channels, movement
    /// types and settings.
    WriteCatalog,
    /// Tokens, users, sessions and other owner-only actions, such as
    /// destructive resets.
    Administer,
    /// Read the audit log (owners and managers).
    ReadAudit,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Read,
        Permission::WriteStock,
        Permission::WriteOrders,
        Permission::Supervise,
        Permission::WriteCatalog,
        Permission::Administer,
        Permission::ReadAudit,
    ];

    /// The OpenAPI security scope that names this permission.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::WriteStock => "stock:write",
            Permission::WriteOrders => "orders:write",
            Permission::Supervise => "supervise",
            Permission::WriteCatalog => "catalog:write",
            Permission::Administer => "admin",
            Permission::ReadAudit => "audit:read",
        }
    }

    /// The permission a scope names, if any.
    pub fn from_scope(scope: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.scope() == scope)
    }
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Manager,
        Role::Staff,
        Role::Integration,
        Role::Display,
    ];

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Manager => !matches!(permission, Administer),
            Role::Staff | Role::Integration => {
                matches!(permission, Read | WriteStock | WriteOrders)
            }
            Role::Display => matches!(permission, Read),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Staff => "staff",
            Role::Integration => "integration",
            Role::Display => "display",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected one of owner, manager, staff, integration, display"))
    }
}
