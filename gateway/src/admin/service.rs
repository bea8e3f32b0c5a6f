//! The operator's operations on plans, keys and the admin token, shared by
//! the admin API and the CLI so both validate, store and audit the same way.

use std::sync::Arc;

use serde_json::{Map, Value};
use turnout_core::problem::FieldError;
use turnout_core::{Clock, Problem, Store, StoreError};

use super::views;
use crate::keys::model::{FieldReader, forbidden_for_public};
use crate::keys::secret::KeyHasher;
use crate::keys::store::{self as key_store, AuditEntry};
use crate::keys::sync::ADMIN_TOKEN_SETTING;
use crate::keys::{ApiKey, KeyStatus, KeyType, Overrides, Plan, PlanSpec};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AdminError> for Problem {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::Validation(errors) => Problem::validation(errors),
            AdminError::NotFound(what) => Problem::not_found(what),
            AdminError::Conflict(what) => Problem::conflict(what),
            AdminError::Store(e) => e.into(),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> AdminError {
    AdminError::Validation(vec![FieldError::new(field, message)])
}

#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    pub hasher: KeyHasher,
    pub clock: Arc<dyn Clock>,
}

/// A key as created: its record and the full secret, shown once.
pub struct CreatedKey {
    pub key: ApiKey,
    pub plan: Plan,
    pub secret: String,
}

impl Admin {
    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn entry(
        actor: &str,
        action: &str,
        target: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            before,
            after,
        }
    }

    pub async fn plan(&self, id_or_name: &str) -> Result<Plan, AdminError> {
        key_store::find_plan(&self.store, id_or_name)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no plan {id_or_name:?}")))
    }

    pub async fn create_plan(
        &self,
        actor: &str,
        input: &Map<String, Value>,
    ) -> Result<Plan, AdminError> {
        let spec = PlanSpec::from_input(input, None).map_err(AdminError::Validation)?;
        let now = self.now();
        let plan = Plan {
            id: uuid::Uuid::now_v7().to_string(),
            spec,
            deleted: false,
            created_at: now,
            updated_at: now,
        };
        let entry = Self::entry(
            actor,
            "plan.create",
            &plan.id,
            None,
            Some(views::plan(&plan)),
        );
        key_store::insert_plan(&self.store, &plan, &entry)
            .await
            .map_err(conflict)?;
        Ok(plan)
    }

    pub async fn update_plan(
        &self,
        actor: &str,
        id: &str,
        input: &Map<String, Value>,
    ) -> Result<Plan, AdminError> {
        let before = self.plan(id).await?;
        let spec =
            PlanSpec::from_input(input, Some(&before.spec)).map_err(AdminError::Validation)?;
        // A plan change must not hand a public key a scope it may never hold.
        if input.contains_key("scopes") {
            let public_inheriting = key_store::keys_on_plan(&self.store, &before.id)
                .await?
                .into_iter()
                .any(|k| k.key_type == KeyType::Public && k.scopes.is_none());
            let forbidden = forbidden_for_public(&spec.scopes);
            if public_inheriting && !forbidden.is_empty() {
                return Err(invalid(
                    "scopes",
                    format!(
                        "public keys use this plan and may not hold {}",
                        forbidden.join(", ")
                    ),
                ));
            }
        }
        let after = Plan {
            spec,
            updated_at: self.now(),
            ..before.clone()
        };
        let entry = Self::entry(
            actor,
            "plan.update",
            &after.id,
            Some(views::plan(&before)),
            Some(views::plan(&after)),
        );
        key_store::update_plan(&self.store, &after, &entry)
            .await
            .map_err(conflict)?;
        Ok(after)
    }

    pub async fn delete_plan(&self, actor: &str, id: &str) -> Result<(), AdminError> {
        let before = self.plan(id).await?;
        let in_use = key_store::count_keys_on_plan(&self.store, &before.id).await?;
        if in_use > 0 {
            return Err(AdminError::Conflict(format!(
                "{in_use} key(s) still use plan {:?}; move or revoke them first",
                before.spec.name
            )));
        }
        let after = Plan {
            deleted: true,
            updated_at: self.now(),
            ..before.clone()
        };
        let entry = Self::entry(
            actor,
            "plan.delete",
            &after.id,
            Some(views::plan(&before)),
            None,
        );
        key_store::update_plan(&self.store, &after, &entry).await?;
        Ok(())
    }

    pub async fn key(&self, id: &str) -> Result<(ApiKey, Plan), AdminError> {
        let key = key_store::get_key(&self.store, id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no key {id:?}")))?;
        let plan = key_store::get_plan_any(&self.store, &key.plan_id)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("key {id} names missing plan {}", key.plan_id))
            })?;
        Ok((key, plan))
    }

    pub async fn create_key(
        &self,
        actor: &str,
        input: &Map<String, Value>,
    ) -> Result<CreatedKey, AdminError> {
        let mut r = FieldReader::new(input, &["name", "plan", "type", "scopes", "overrides"]);
        let name = r.string("name", 200);
        let plan_ref = r.string("plan", 200);
        let key_type = r
            .one_of("type", KeyType::parse, "\"confidential\", \"public\"")
            .unwrap_or_default();
        let scopes = r.scopes("scopes");
        let overrides = r.object("overrides");
        if name.is_none() && !r.has("name") {
            r.errors.push(FieldError::new("name", "is required"));
        }
        if plan_ref.is_none() && !r.has("plan") {
            r.errors.push(FieldError::new("plan", "is required"));
        }
        let mut errors = r.errors;
        let overrides = match overrides.map(Overrides::from_input).transpose() {
            Ok(o) => o.unwrap_or_default(),
            Err(mut errs) => {
                errors.append(&mut errs);
                Overrides::default()
            }
        };
        if !errors.is_empty() {
            return Err(AdminError::Validation(errors));
        }
        let (Some(name), Some(plan_ref)) = (name, plan_ref) else {
            return Err(invalid("name, plan", "are required"));
        };
        let plan = key_store::find_plan(&self.store, &plan_ref)
            .await?
            .ok_or_else(|| invalid("plan", format!("no plan {plan_ref:?}")))?;
        let effective = scopes.as_deref().unwrap_or(&plan.spec.scopes);
        check_public(key_type, effective)?;
        let issued = self.hasher.issue();
        let now = self.now();
        let key = ApiKey {
            id: issued.id,
            name,
            plan_id: plan.id.clone(),
            key_type,
            status: KeyStatus::Active,
            secret_hash: issued.hash,
            scopes,
            overrides,
            created_at: now,
            updated_at: now,
        };
        let entry = Self::entry(
            actor,
            "key.create",
            &key.id,
            None,
            Some(views::key(&key, &plan)),
        );
        key_store::insert_key(&self.store, &key, &entry)
            .await
            .map_err(conflict)?;
        Ok(CreatedKey {
            key,
            plan,
            secret: issued.full,
        })
    }

    /// Changes a key's name, status, plan, scopes or overrides. A revoked
    /// key stays revoked.
    pub async fn update_key(
        &self,
        actor: &str,
        id: &str,
        input: &Map<String, Value>,
    ) -> Result<(ApiKey, Plan), AdminError> {
        let (before, old_plan) = self.key(id).await?;
        let mut r = FieldReader::new(input, &["name", "status", "plan", "scopes", "overrides"]);
        let name = r.string("name", 200);
        let status = r.one_of(
            "status",
            |s| match s {
                "active" => Some(KeyStatus::Active),
                "disabled" => Some(KeyStatus::Disabled),
                _ => None,
            },
            "\"active\", \"disabled\" (DELETE revokes)",
        );
        let plan_ref = r.string("plan", 200);
        let scopes = r.scopes("scopes");
        let clear_scopes = input.get("scopes").is_some_and(Value::is_null);
        let overrides = r.object("overrides");
        let mut errors = r.errors;
        let overrides = match overrides.map(Overrides::from_input).transpose() {
            Ok(o) => o,
            Err(mut errs) => {
                errors.append(&mut errs);
                None
            }
        };
        if !errors.is_empty() {
            return Err(AdminError::Validation(errors));
        }
        if before.status == KeyStatus::Revoked {
            return Err(AdminError::Conflict(format!(
                "key {id} is revoked; issue a new key"
            )));
        }
        let plan = match plan_ref {
            Some(p) => key_store::find_plan(&self.store, &p)
                .await?
                .ok_or_else(|| invalid("plan", format!("no plan {p:?}")))?,
            None => old_plan,
        };
        let after = ApiKey {
            name: name.unwrap_or_else(|| before.name.clone()),
            status: status.unwrap_or(before.status),
            plan_id: plan.id.clone(),
            scopes: if clear_scopes {
                None
            } else {
                scopes.or_else(|| before.scopes.clone())
            },
            overrides: overrides.unwrap_or_else(|| before.overrides.clone()),
            updated_at: self.now(),
            ..before.clone()
        };
        check_public(after.key_type, after.effective_scopes(&plan.spec))?;
        let entry = Self::entry(
            actor,
            "key.update",
            &after.id,
            Some(views::key(&before, &plan)),
            Some(views::key(&after, &plan)),
        );
        key_store::update_key(&self.store, &after, &entry).await?;
        Ok((after, plan))
    }

    pub async fn revoke_key(&self, actor: &str, id: &str) -> Result<(ApiKey, Plan), AdminError> {
        let (before, plan) = self.key(id).await?;
        if before.status == KeyStatus::Revoked {
            return Ok((before, plan));
        }
        let after = ApiKey {
            status: KeyStatus::Revoked,
            updated_at: self.now(),
            ..before.clone()
        };
        let entry = Self::entry(
            actor,
            "key.revoke",
            &after.id,
            Some(views::key(&before, &plan)),
            Some(views::key(&after, &plan)),
        );
        key_store::update_key(&self.store, &after, &entry).await?;
        Ok((after, plan))
    }

    pub async fn set_key_status(
        &self,
        actor: &str,
        id: &str,
        status: KeyStatus,
    ) -> Result<(ApiKey, Plan), AdminError> {
        let mut input = Map::new();
        input.insert("status".into(), Value::String(status.as_str().into()));
        self.update_key(actor, id, &input).await
    }

    /// Replaces the stored admin token with a new one, returned once.
    pub async fn rotate_admin_token(&self, actor: &str) -> Result<String, AdminError> {
        let token = new_admin_token();
        let entry = Self::entry(actor, "admin_token.rotate", "admin_token", None, None);
        key_store::put_setting(
            &self.store,
            ADMIN_TOKEN_SETTING,
            &turnout_core::token::sha256_hex(&token),
            &entry,
            self.now(),
        )
        .await?;
        Ok(token)
    }

    /// On first start with no admin token configured or stored: makes one.
    /// `Some(token)` only for the one instance whose token was stored.
    pub async fn ensure_admin_token(&self) -> Result<Option<String>, AdminError> {
        if key_store::get_setting(&self.store, ADMIN_TOKEN_SETTING)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let token = new_admin_token();
        let entry = Self::entry("system", "admin_token.generate", "admin_token", None, None);
        let stored = key_store::init_setting(
            &self.store,
            ADMIN_TOKEN_SETTING,
            &turnout_core::token::sha256_hex(&token),
            &entry,
            self.now(),
        )
        .await?;
        Ok(stored.then_some(token))
    }
}

pub fn new_admin_token() -> String {
    format!("tka_{}", turnout_core::token::base62(43))
}

fn check_public(key_type: KeyType, scopes: &[crate::keys::Scope]) -> Result<(), AdminError> {
    if key_type != KeyType::Public {
        return Ok(());
    }
    let forbidden = forbidden_for_public(scopes);
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(invalid(
            "scopes",
            format!(
                "a public key may not hold {} (set \"scopes\" to narrow the plan's)",
                forbidden.join(", ")
            ),
        ))
    }
}

fn conflict(err: StoreError) -> AdminError {
    match err {
        StoreError::Conflict(what) => AdminError::Conflict(what),
        other => AdminError::Store(other),
    }
}

/// Reads the key-hashing secret: configured, or stored (generated on first
/// start, shared by every instance on the store).
pub async fn key_hash_secret(
    store: &Store,
    configured: Option<&str>,
    clock: &dyn Clock,
) -> Result<Vec<u8>, StoreError> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    const NAME: &str = "key_hash_secret";
    if let Some(stored) = key_store::get_setting(store, NAME).await? {
        return Ok(stored.into_bytes());
    }
    let fresh = turnout_core::token::base62(43);
    let entry = AuditEntry {
        actor: "system".into(),
        action: "key_hash_secret.generate".into(),
        target: NAME.into(),
        before: None,
        after: None,
    };
    key_store::init_setting(store, NAME, &fresh, &entry, clock.now().timestamp()).await?;
    // Another instance may have won the race: read back what is stored.
    Ok(key_store::get_setting(store, NAME)
        .await?
        .ok_or_else(|| StoreError::Corrupt("key_hash_secret vanished".into()))?
        .into_bytes())
}
