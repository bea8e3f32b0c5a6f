//! `DELETE /v1/me`: erasing an account, as app stores require. The
//! profile goes (its row stays as a bare tombstone with the id, for the
//! `deleted` feed partners sync from), and with it the attendances, the
//! index entry, the stored bodies and addresses of every message sent to
//! the person, their inbound texts, their outbox lines, their sign-in
//! state, and any stored idempotent response that names them. The
//! opt-out list keeps its hashes, so a number that had opted out stays
//! opted out after its owner is gone.

use turnout_core::Problem;
use turnout_outreach::erasure::{Addresses, erase};
use turnout_search::model::Person;

use super::Auth;
use super::destination::Destination;

impl Auth {
    pub async fn erase(&self, person_id: i64) -> Result<(), Problem> {
        let Some(person) = self
            .people
            .current(person_id)
            .await
            .map_err(|e| Problem::internal(&e))?
        else {
            return Err(Problem::not_found("this account no longer exists"));
        };
        let addresses = Addresses {
            phones: person
                .phone_numbers
                .iter()
                .map(|p| p.number.as_str().to_string())
                .collect(),
            emails: person
                .email_addresses
                .iter()
                .map(|e| e.address.to_lowercase())
                .collect(),
        };
        let destinations: Vec<Destination> = person
            .phone_numbers
            .iter()
            .map(|p| Destination::Phone(p.number.clone()))
            .chain(addresses.emails.iter().cloned().map(Destination::Email))
            .collect();

        self.refresh.forget_person(person_id).await?;
        self.people.records.delete::<Person>(person_id).await?;
        self.index_wake.notify_one();
        let erased = erase(
            &self.store,
            person_id,
            &addresses,
            self.outbox_dir.as_deref(),
        )
        .await
        .map_err(|e| Problem::internal(&e))?;
        self.otp.forget(&destinations).await?;
        sqlx::query("DELETE FROM auth_people WHERE person_id = $1")
            .bind(person_id)
            .execute(self.store.pool())
            .await
            .map_err(|e| Problem::internal(&e))?;
        self.forget_idempotent_responses(&addresses).await?;
        tracing::info!(
            person_id,
            messages = erased.messages,
            inbound = erased.inbound,
            outbox_lines = erased.outbox_lines,
            "erased an account at its owner's request"
        );
        Ok(())
    }

    /// Stored responses of idempotent writes live 24 h; those that carry
    /// one of the person's addresses go now.
    async fn forget_idempotent_responses(&self, addresses: &Addresses) -> Result<(), Problem> {
        for a in addresses.phones.iter().chain(&addresses.emails) {
            let pattern = format!(
                "%{}%",
                a.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            sqlx::query("DELETE FROM gateway_idempotency WHERE lower(body) LIKE $1 ESCAPE '\\'")
                .bind(pattern.to_lowercase())
                .execute(self.store.pool())
                .await
                .map_err(|e| Problem::internal(&e))?;
        }
        Ok(())
    }
}
