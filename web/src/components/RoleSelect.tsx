import { useState } from "react";
import type { AccountRole } from "../api/control-plane";

/** A role picker in a table row: changes at once, back to `current` if the API refuses. */
export function RoleSelect({
  current,
  roles,
  label,
  onChange,
  onError,
}: {
  current: AccountRole;
  roles: AccountRole[];
  label: string;
  onChange: (role: AccountRole) => Promise<void>;
  onError: (err: unknown) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [value, setValue] = useState<AccountRole>(current);
  async function change(role: AccountRole): Promise<void> {
    setValue(role);
    setBusy(true);
    try {
      await onChange(role);
    } catch (err) {
      setValue(current);
      onError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <select aria-label={label} value={value} disabled={busy} onChange={(e) => void change(e.target.value as AccountRole)}>
      {roles.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}
