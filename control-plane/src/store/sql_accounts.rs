//! Accounts, users, sessions and service accounts, for both databases.

macro_rules! sql_accounts {
    ($store:ident, $db:ty) => {
        const USER_COLUMNS: &str = "id, account_id, email, role, state, password_hash, created_ms";

        async fn insert_user(
            tx: &mut sqlx::Transaction<'_, $db>,
            user: &User,
            invite: Option<(&str, i64)>,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO users (id, account_id, email, role, state, password_hash, invite_token_hash, invite_expires_ms, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&user.id)
            .bind(&user.account_id)
            .bind(&user.email)
            .bind(user.role.as_str())
            .bind(user.state.as_str())
            .bind(&user.password_hash)
            .bind(invite.map(|i| i.0))
            .bind(invite.map(|i| i.1))
            .bind(user.created_ms)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            Ok(())
        }

        /// API keys and grants name their principal as text, so removing a
        /// principal removes them here rather than by foreign key.
        async fn delete_principal_data(
            tx: &mut sqlx::Transaction<'_, $db>,
            principal: &str,
        ) -> StoreResult<()> {
            sqlx::query("DELETE FROM api_keys WHERE owner = $1")
                .bind(principal)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            sqlx::query("DELETE FROM namespace_grants WHERE principal = $1")
                .bind(principal)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            Ok(())
        }

        /// Locks the account, then decides whether user `id` may stop being
        /// an owner (only by an owner, `by_owner`, and never the last one):
        /// `None` to go ahead, else the outcome to answer.
        async fn owner_guard(
            tx: &mut sqlx::Transaction<'_, $db>,
            account_id: &str,
            id: &str,
            by_owner: bool,
        ) -> StoreResult<Option<OwnerGuarded>> {
            if !lock_account(tx, account_id).await? {
                return Ok(Some(OwnerGuarded::NotFound));
            }
            let target: Option<(String, String)> =
                sqlx::query_as("SELECT role, state FROM users WHERE account_id = $1 AND id = $2")
                    .bind(account_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_err)?;
            let Some((role, state)) = target else {
                return Ok(Some(OwnerGuarded::NotFound));
            };
            let owner = AccountRole::Owner.as_str();
            let active = UserState::Active.as_str();
            // The caller checked the role it read before this transaction;
            // the user may have been made an owner since.
            if role == owner && !by_owner {
                return Ok(Some(OwnerGuarded::OwnerOnly));
            }
            if role != owner || state != active {
                return Ok(None);
            }
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM users WHERE account_id = $1 AND id <> $2 AND role = $3 AND state = $4",
            )
            .bind(account_id)
            .bind(id)
            .bind(owner)
            .bind(active)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
            Ok((others == 0).then_some(OwnerGuarded::LastOwner))
        }

        #[async_trait]
        impl AccountStore for $store {
            async fn create_account(&self, account: &Account, owner: &User, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query("INSERT INTO accounts (id, name, slug, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(&account.id)
                    .bind(&account.name)
                    .bind(&account.slug)
                    .bind(account.created_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                insert_user(&mut tx, owner, None).await?;
                finish(tx, audit, true).await
            }

            async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
                sqlx::query_as("SELECT id, name, slug, created_ms FROM accounts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
                    .bind(email)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn user(&self, account_id: &str, id: &str) -> StoreResult<Option<User>> {
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND id = $2"
                ))
                .bind(account_id)
                .bind(id)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
                sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)
            }

            async fn users(&self, account_id: &str) -> StoreResult<Vec<User>> {
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 ORDER BY created_ms, id"
                ))
                .bind(account_id)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)
            }

            async fn invite_user(&self, user: &User, token_hash: &str, expires_ms: i64, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                insert_user(&mut tx, user, Some((token_hash, expires_ms))).await?;
                finish(tx, audit, false).await
            }

            async fn invitation(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<User>> {
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE invite_token_hash = $1 AND state = 'invited' AND invite_expires_ms > $2"
                ))
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn purge_expired_invitations(&self, now_ms: i64) -> StoreResult<u64> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let expired: Vec<(String, String, String)> = sqlx::query_as(
                    "DELETE FROM users WHERE state = 'invited' AND invite_expires_ms <= $1
                     RETURNING id, account_id, email",
                )
                .bind(now_ms)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                if expired.is_empty() {
                    return Ok(0);
                }
                for (id, account_id, email) in &expired {
                    delete_principal_data(&mut tx, &format!("user:{id}")).await?;
                    let audit = Audit {
                        account_id: Some(account_id.clone()),
                        actor: "system".into(),
                        action: "invitation.expire".into(),
                        target: format!("user:{id}"),
                        source_ip: "local".into(),
                        detail: format!("invitation of {email} expired unaccepted"),
                    };
                    audit_row(&mut tx, &audit, "success").await?;
                }
                // Grants of the removed users leave the cells' snapshots.
                bump_version(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(expired.len() as u64)
            }

            async fn accept_invite(&self, token_hash: &str, password_hash: &str, now_ms: i64, source_ip: &str) -> StoreResult<Option<User>> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let user: Option<User> = sqlx::query_as(&format!(
                    "UPDATE users SET state = 'active', password_hash = $1, invite_token_hash = NULL, invite_expires_ms = NULL
                     WHERE invite_token_hash = $2 AND state = 'invited' AND invite_expires_ms > $3
                     RETURNING {USER_COLUMNS}"
                ))
                .bind(password_hash)
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(user) = user else {
                    return Ok(None);
                };
                let audit = Audit {
                    account_id: Some(user.account_id.clone()),
                    actor: format!("user:{}", user.id),
                    action: "invitation.accept".into(),
                    target: format!("user:{}", user.id),
                    source_ip: source_ip.to_owned(),
                    detail: String::new(),
                };
                finish(tx, &audit, true).await?;
                Ok(Some(user))
            }

            async fn update_user_role(&self, account_id: &str, id: &str, role: AccountRole, by_owner: bool, audit: &Audit) -> StoreResult<OwnerGuarded> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // Making an owner is the caller's check alone (only owners
                // may), whatever the user's role now.
                if role != AccountRole::Owner
                    && let Some(refused) = owner_guard(&mut tx, account_id, id, by_owner).await?
                {
                    return Ok(refused);
                }
                let done = changes_one(
                    &mut tx,
                    sqlx::query("UPDATE users SET role = $1 WHERE account_id = $2 AND id = $3")
                        .bind(role.as_str())
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if !done {
                    return Ok(OwnerGuarded::NotFound);
                }
                finish(tx, audit, true).await?;
                Ok(OwnerGuarded::Done)
            }

            async fn delete_user(&self, account_id: &str, id: &str, by_owner: bool, audit: &Audit) -> StoreResult<OwnerGuarded> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                if let Some(refused) = owner_guard(&mut tx, account_id, id, by_owner).await? {
                    return Ok(refused);
                }
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM users WHERE account_id = $1 AND id = $2")
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if !done {
                    return Ok(OwnerGuarded::NotFound);
                }
                delete_principal_data(&mut tx, &format!("user:{id}")).await?;
                finish(tx, audit, true).await?;
                Ok(OwnerGuarded::Done)
            }

            async fn set_password(&self, user_id: &str, password_hash: &str, keep_session: Option<&str>, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                    .bind(user_id)
                    .bind(keep_session.unwrap_or(""))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                finish(tx, audit, false).await
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, id_hash: &str, session: &Session, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                // Expired sessions are swept as new ones arrive: no timer needed.
                sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id_hash)
                .bind(&session.user_id)
                .bind(&session.csrf_token)
                .bind(session.expires_ms)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, false).await
            }

            async fn session(&self, id_hash: &str, now_ms: i64) -> StoreResult<Option<Session>> {
                sqlx::query_as(
                    "SELECT user_id, csrf_token, expires_ms FROM sessions WHERE id_hash = $1 AND expires_ms > $2",
                )
                .bind(id_hash)
                .bind(now_ms)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn delete_session(&self, id_hash: &str, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                finish(tx, audit, false).await
            }
        }

        const SA_COLUMNS: &str = "id, account_id, name, description, role, created_ms";

        #[async_trait]
        impl ServiceAccountStore for $store {
            async fn create_service_account(&self, sa: &ServiceAccount, audit: &Audit) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO service_accounts (id, account_id, name, description, role, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&sa.id)
                .bind(&sa.account_id)
                .bind(&sa.name)
                .bind(&sa.description)
                .bind(sa.role.as_str())
                .bind(sa.created_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                finish(tx, audit, true).await
            }

            async fn service_accounts(&self, account_id: &str) -> StoreResult<Vec<ServiceAccount>> {
                sqlx::query_as(&format!(
                    "SELECT {SA_COLUMNS} FROM service_accounts WHERE account_id = $1 ORDER BY created_ms, id"
                ))
                .bind(account_id)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)
            }

            async fn service_account(&self, account_id: &str, id: &str) -> StoreResult<Option<ServiceAccount>> {
                sqlx::query_as(&format!(
                    "SELECT {SA_COLUMNS} FROM service_accounts WHERE account_id = $1 AND id = $2"
                ))
                .bind(account_id)
                .bind(id)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)
            }

            async fn update_service_account_role(&self, account_id: &str, id: &str, role: AccountRole, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("UPDATE service_accounts SET role = $1 WHERE account_id = $2 AND id = $3")
                        .bind(role.as_str())
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }

            async fn delete_service_account(&self, account_id: &str, id: &str, audit: &Audit) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(db_err)?;
                let done = changes_one(
                    &mut tx,
                    sqlx::query("DELETE FROM service_accounts WHERE account_id = $1 AND id = $2")
                        .bind(account_id)
                        .bind(id),
                )
                .await?;
                if done {
                    delete_principal_data(&mut tx, &format!("service-account:{id}")).await?;
                    finish(tx, audit, true).await?;
                }
                Ok(done)
            }
        }
    };
}
pub(crate) use sql_accounts;
