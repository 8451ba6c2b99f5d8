//! The get-plan variants a node serves for an uploaded Plan (protocol.md §5.6): list, tfjs, torchscript.

use crate::error::Result;
use crate::proto::{self, Plan, Role};

/// Encoded variants of one uploaded Plan; `None` where the source has no such translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanVariants {
    /// Torch-op role in `Plan.role`, `base_framework "torch"`, `roles` kept, no TorchScript.
    pub list: Option<Vec<u8>>,
    /// TF.js role in `Plan.role`, `base_framework "tfjs"`, no `roles`, no TorchScript.
    pub tfjs: Option<Vec<u8>>,
    /// The upload with `Plan.role.actions` emptied and the TorchScript kept.
    pub torchscript: Option<Vec<u8>>,
}

/// The role a variant is built from: `roles[framework]`, else `Plan.role` when the Plan's
/// `base_framework` is that framework (an empty one counts as torch).
fn source_role(plan: &Plan, framework: &str) -> Option<Role> {
    if let Some(role) = plan.roles.get(framework) {
        return Some(role.clone());
    }
    let base = plan.base_framework.as_str();
    let matches = base == framework || (framework == "torch" && base.is_empty());
    if matches {
        plan.role.clone()
    } else {
        None
    }
}

/// Decode `bytes` as a Plan and build its variants. Ids are kept (no re-randomisation), so
/// every variant names the same placeholders as the upload.
pub fn plan_variants(bytes: &[u8]) -> Result<PlanVariants> {
    let plan: Plan = proto::decode(bytes)?;
    let list = source_role(&plan, "torch").map(|role| {
        let variant = Plan {
            role: Some(role),
            base_framework: "torch".to_string(),
            torchscript: Vec::new(),
            ..plan.clone()
        };
        proto::encode(&variant)
    });
    let tfjs = source_role(&plan, "tfjs").map(|role| {
        let variant = Plan {
            role: Some(role),
            base_framework: "tfjs".to_string(),
            torchscript: Vec::new(),
            roles: Default::default(),
            ..plan.clone()
        };
        proto::encode(&variant)
    });
    let torchscript = (!plan.torchscript.is_empty()).then(|| {
        let mut variant = plan.clone();
        if let Some(role) = variant.role.as_mut() {
            role.actions.clear();
        }
        proto::encode(&variant)
    });
    Ok(PlanVariants {
        list,
        tfjs,
        torchscript,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ComputationAction, Id};
    use std::collections::BTreeMap;

    fn role(id: i64, command: &str) -> Role {
        Role {
            id: Some(Id::int(id)),
            actions: vec![ComputationAction {
                command: command.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn decode(bytes: &Option<Vec<u8>>) -> Plan {
        proto::decode(bytes.as_deref().expect("variant present")).unwrap()
    }

    #[test]
    fn both_roles_and_torchscript() {
        let mut roles = BTreeMap::new();
        roles.insert("torch".to_string(), role(1, "add"));
        roles.insert("tfjs".to_string(), role(2, "tf.add"));
        let plan = Plan {
            id: Some(Id::int(9)),
            name: "p".into(),
            role: Some(role(1, "add")),
            base_framework: "torch".into(),
            torchscript: b"PK\x03\x04".to_vec(),
            roles,
            ..Default::default()
        };
        let v = plan_variants(&proto::encode(&plan)).unwrap();
        let list = decode(&v.list);
        assert_eq!(list.role.as_ref().unwrap().actions[0].command, "add");
        assert_eq!(list.roles.len(), 2);
        assert!(list.torchscript.is_empty());
        let tfjs = decode(&v.tfjs);
        assert_eq!(tfjs.base_framework, "tfjs");
        assert_eq!(tfjs.role.as_ref().unwrap().actions[0].command, "tf.add");
        assert!(tfjs.roles.is_empty() && tfjs.torchscript.is_empty());
        assert_eq!(tfjs.name, "p");
        let ts = decode(&v.torchscript);
        assert!(ts.role.as_ref().unwrap().actions.is_empty());
        assert_eq!(ts.torchscript, b"PK\x03\x04");
    }

    #[test]
    fn single_role_plans() {
        let torch_only = Plan {
            role: Some(role(1, "add")),
            ..Default::default()
        };
        let v = plan_variants(&proto::encode(&torch_only)).unwrap();
        assert_eq!(decode(&v.list).base_framework, "torch");
        assert!(v.tfjs.is_none() && v.torchscript.is_none());

        let tfjs_only = Plan {
            role: Some(role(2, "tf.add")),
            base_framework: "tfjs".into(),
            ..Default::default()
        };
        let v = plan_variants(&proto::encode(&tfjs_only)).unwrap();
        assert!(v.list.is_none() && v.torchscript.is_none());
        assert_eq!(decode(&v.tfjs).role.unwrap().actions[0].command, "tf.add");

        let other = Plan {
            role: Some(role(3, "x")),
            base_framework: "jax".into(),
            ..Default::default()
        };
        let v = plan_variants(&proto::encode(&other)).unwrap();
        assert_eq!(
            v,
            PlanVariants {
                list: None,
                tfjs: None,
                torchscript: None
            }
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let err = plan_variants(b"\xff\xff\xff").unwrap_err();
        assert!(
            err.to_string().starts_with("Failed to decode Plan"),
            "{err}"
        );
    }
}
