use super::*;
use crate::acl::{Operation as O, PatternType as P, Permission as Perm, ResourceType as R};

fn acl(rt: R, name: &str, pt: P, who: &str, host: &str, op: O, perm: Perm) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: pt,
        principal: who.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn alice() -> Principal {
    Principal::user("alice")
}

fn with(acls: Vec<AclBinding>, everyone: bool) -> Authorizer {
    let mut a = Authorizer::new("User:admin; User:ops ;", everyone);
    a.set_acls(acls);
    a
}

const HOST: &str = "127.0.0.1";

#[test]
fn super_users_may_do_anything() {
    let a = with(
        vec![acl(
            R::Topic,
            "*",
            P::Literal,
            "User:*",
            "*",
            O::All,
            Perm::Deny,
        )],
        false,
    );
    for su in ["admin", "ops"] {
        assert_eq!(
            a.authorize(&Principal::user(su), HOST, O::Write, R::Topic, "t"),
            Decision::Allow
        );
    }
    assert_eq!(
        a.authorize(&alice(), HOST, O::Write, R::Topic, "t"),
        Decision::Deny
    );
}

#[test]
fn deny_wins_over_allow_and_nothing_is_allowed_by_default() {
    let a = with(
        vec![
            acl(
                R::Topic,
                "orders",
                P::Literal,
                "User:alice",
                "*",
                O::Read,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "ord",
                P::Prefixed,
                "User:alice",
                "*",
                O::Read,
                Perm::Deny,
            ),
        ],
        false,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "orders"),
        Decision::Deny
    );
    let a = with(
        vec![acl(
            R::Topic,
            "orders",
            P::Literal,
            "User:alice",
            "*",
            O::Read,
            Perm::Allow,
        )],
        false,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "orders"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Write, R::Topic, "orders"),
        Decision::Deny
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "payments"),
        Decision::Deny
    );
    assert_eq!(
        a.authorize(&Principal::user("bob"), HOST, O::Read, R::Topic, "orders"),
        Decision::Deny
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Group, "orders"),
        Decision::Deny
    );
}

#[test]
fn implied_operations_allow_but_do_not_deny() {
    let a = with(
        vec![
            acl(
                R::Topic,
                "t",
                P::Literal,
                "User:alice",
                "*",
                O::Write,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "c",
                P::Literal,
                "User:alice",
                "*",
                O::AlterConfigs,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "all",
                P::Literal,
                "User:alice",
                "*",
                O::All,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "d",
                P::Literal,
                "User:alice",
                "*",
                O::Read,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "d",
                P::Literal,
                "User:alice",
                "*",
                O::Describe,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "d",
                P::Literal,
                "User:alice",
                "*",
                O::Read,
                Perm::Deny,
            ),
        ],
        false,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Describe, R::Topic, "t"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::DescribeConfigs, R::Topic, "c"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Describe, R::Topic, "c"),
        Decision::Deny
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Delete, R::Topic, "all"),
        Decision::Allow
    );
    // DENY READ does not deny DESCRIBE.
    assert_eq!(
        a.authorize(&alice(), HOST, O::Describe, R::Topic, "d"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "d"),
        Decision::Deny
    );
}

#[test]
fn wildcards_for_names_principals_and_hosts() {
    let a = with(
        vec![
            acl(
                R::Group,
                "*",
                P::Literal,
                "User:*",
                "*",
                O::Read,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "t",
                P::Literal,
                "User:alice",
                "10.0.0.1",
                O::Read,
                Perm::Allow,
            ),
        ],
        false,
    );
    assert_eq!(
        a.authorize(&Principal::user("anyone"), HOST, O::Read, R::Group, "g"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), "10.0.0.1", O::Read, R::Topic, "t"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "t"),
        Decision::Deny
    );
}

#[test]
fn allow_everyone_applies_only_to_resources_without_any_acl() {
    let a = with(
        vec![acl(
            R::Topic,
            "guarded",
            P::Literal,
            "User:bob",
            "*",
            O::Read,
            Perm::Allow,
        )],
        true,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "open"),
        Decision::Allow
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "guarded"),
        Decision::Deny
    );
    // A wildcard ACL for someone else puts every topic under ACLs.
    let a = with(
        vec![acl(
            R::Topic,
            "*",
            P::Literal,
            "User:bob",
            "*",
            O::Read,
            Perm::Allow,
        )],
        true,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "open"),
        Decision::Deny
    );
    // A prefix covers the names it starts.
    let a = with(
        vec![acl(
            R::Topic,
            "op",
            P::Prefixed,
            "User:bob",
            "*",
            O::Read,
            Perm::Allow,
        )],
        true,
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "open"),
        Decision::Deny
    );
    assert_eq!(
        a.authorize(&alice(), HOST, O::Read, R::Topic, "closed"),
        Decision::Allow
    );
}

#[test]
fn authorize_any_finds_an_allowed_resource_not_shadowed_by_a_deny() {
    let p = alice();
    let a = with(
        vec![acl(
            R::Topic,
            "t",
            P::Literal,
            "User:alice",
            "*",
            O::Write,
            Perm::Allow,
        )],
        false,
    );
    assert_eq!(
        a.authorize_any(&p, HOST, O::Write, R::Topic),
        Decision::Allow
    );
    let a = with(
        vec![
            acl(
                R::Topic,
                "t",
                P::Literal,
                "User:alice",
                "*",
                O::Write,
                Perm::Allow,
            ),
            acl(
                R::Topic,
                "t",
                P::Prefixed,
                "User:alice",
                "*",
                O::Write,
                Perm::Deny,
            ),
        ],
        false,
    );
    assert_eq!(
        a.authorize_any(&p, HOST, O::Write, R::Topic),
        Decision::Deny
    );
    let a = with(
        vec![
            acl(
                R::Topic,
                "t",
                P::Literal,
                "User:alice",
                "*",
                O::Write,
                Perm::Allow,
            ),
            acl(R::Topic, "*", P::Literal, "User:*", "*", O::All, Perm::Deny),
        ],
        false,
    );
    assert_eq!(
        a.authorize_any(&p, HOST, O::Write, R::Topic),
        Decision::Deny
    );
    assert_eq!(
        with(vec![], false).authorize_any(&p, HOST, O::Write, R::Topic),
        Decision::Deny
    );
    assert_eq!(
        with(vec![], true).authorize_any(&p, HOST, O::Write, R::Topic),
        Decision::Allow
    );
}
