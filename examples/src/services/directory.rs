//! The user directory: accounts, their workspaces and their roles. Every change is
//! idempotent by key, and by user: creating an account that exists returns it.

use super::{Idempotent, Script, ServiceError, Trouble, lock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The user's id.
    pub user_id: String,
    /// Their email address.
    pub email: String,
    /// Their plan (`"free"`, `"team"`, ...).
    pub plan: String,
}

/// A user's workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    /// Its id.
    pub id: String,
    /// The user who owns it.
    pub owner: String,
    /// The plan it was set up for.
    pub plan: String,
}

/// The directory's operations a test can script trouble on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    /// Creating an account.
    CreateAccount,
    /// Setting up a workspace.
    SetupWorkspace,
    /// Assigning a role.
    AssignRole,
}

/// The directory's business state, as a test or a campaign compares it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Accounts by user id.
    pub accounts: BTreeMap<String, Account>,
    /// Workspaces by owner.
    pub workspaces: BTreeMap<String, Workspace>,
    /// Roles by user id.
    pub roles: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    /// The result of each change done, by key.
    done: Idempotent<Value>,
    directory: Snapshot,
    troubles: Script<Operation>,
}

/// A handle on the directory. Cheap to clone: clones share it.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    state: Arc<Mutex<State>>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    /// Forgets everything, scripted trouble included.
    pub fn reset(&self) {
        *lock(&self.state) = State::default();
    }

    /// From now on, `operation` meets `trouble`.
    pub fn script(&self, operation: Operation, trouble: Trouble) {
        lock(&self.state).troubles.set(operation, trouble);
    }

    /// Creates `account` (once per key; an existing user's account is returned as it is).
    pub fn create_account(&self, key: &str, account: Account) -> Result<Account, ServiceError> {
        let user_id = account.user_id.clone();
        self.change(key, Operation::CreateAccount, &user_id, |directory| {
            Ok(directory
                .accounts
                .entry(user_id.clone())
                .or_insert(account)
                .clone())
        })
    }

    /// Sets up the workspace of `user_id` for `plan` (once per key and per user).
    pub fn setup_workspace(&self, key: &str, user_id: &str, plan: &str) -> Result<Workspace, ServiceError> {
        self.change(key, Operation::SetupWorkspace, user_id, |directory| {
            known(directory, user_id)?;
            let workspace = directory
                .workspaces
                .entry(user_id.to_owned())
                .or_insert_with(|| Workspace {
                    id: format!("ws-{user_id}"),
                    owner: user_id.to_owned(),
                    plan: plan.to_owned(),
                });
            Ok(workspace.clone())
        })
    }

    /// Gives `user_id` the default role of `plan` (once per key); returns the role.
    pub fn assign_role(&self, key: &str, user_id: &str, plan: &str) -> Result<String, ServiceError> {
        self.change(key, Operation::AssignRole, user_id, |directory| {
            known(directory, user_id)?;
            let role = default_role(plan).to_owned();
            directory.roles.insert(user_id.to_owned(), role.clone());
            Ok(role)
        })
    }

    /// Applies `change` to the directory once per `key`, unless the trouble scripted on
    /// `operation` says otherwise; a repeated key returns the first call's result.
    fn change<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        operation: Operation,
        user_id: &str,
        change: impl FnOnce(&mut Snapshot) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let State {
            done,
            directory,
            troubles,
        } = &mut *lock(&self.state);
        let result = done.once(key, || {
            troubles.check(&operation, || format!("{operation:?} for `{user_id}`"))?;
            let result = change(directory)?;
            serde_json::to_value(result).map_err(|e| ServiceError::refused("Unencodable", e.to_string()))
        })?;
        serde_json::from_value(result).map_err(|e| ServiceError::refused("Undecodable", e.to_string()))
    }

    /// The account of `user_id`.
    pub fn account(&self, user_id: &str) -> Option<Account> {
        lock(&self.state).directory.accounts.get(user_id).cloned()
    }

    /// The workspace `user_id` owns.
    pub fn workspace(&self, user_id: &str) -> Option<Workspace> {
        lock(&self.state).directory.workspaces.get(user_id).cloned()
    }

    /// The role of `user_id`.
    pub fn role(&self, user_id: &str) -> Option<String> {
        lock(&self.state).directory.roles.get(user_id).cloned()
    }

    /// Everything in the directory.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.state).directory.clone()
    }
}

/// The role a new user gets on `plan`: the owner of a paid workspace administers it.
pub fn default_role(plan: &str) -> &'static str {
    match plan {
        "free" => "member",
        _ => "admin",
    }
}

fn known(directory: &Snapshot, user_id: &str) -> Result<(), ServiceError> {
    if directory.accounts.contains_key(user_id) {
        Ok(())
    } else {
        Err(ServiceError::refused(
            "UnknownUser",
            format!("no account for `{user_id}`"),
        ))
    }
}
