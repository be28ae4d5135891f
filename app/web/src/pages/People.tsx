import { useEffect, useState } from 'react';
import { api, type User } from '../api/client';

/** Finds people by e-mail (debounced) and keeps the chosen ones; used by
 *  the create-chat dialog and by adding members to a chat. */
export function PeoplePicker({
  chosen,
  onChange,
  max,
  exclude = [],
}: {
  chosen: User[];
  onChange: (people: User[]) => void;
  max: number;
  exclude?: string[];
}) {
  const [term, setTerm] = useState('');
  const [found, setFound] = useState<User[]>([]);

  useEffect(() => {
    if (term.trim().length < 2) return setFound([]);
    const timer = setTimeout(async () => {
      const { data } = await api.GET('/api/v1/users/lookup', { params: { query: { email: term.trim() } } });
      setFound(data ?? []);
    }, 300);
    return () => clearTimeout(timer);
  }, [term]);

  const full = chosen.length >= max;
  return (
    <>
      <label>
        Add people by e-mail
        <input type="search" value={term} onChange={(e) => setTerm(e.target.value)} disabled={full} />
      </label>
      <ul className="pills" aria-label="People to add">
        {chosen.map((m) => (
          <li key={m.user_id}>
            {m.email}
            <button type="button" aria-label={`Remove ${m.email}`} onClick={() => onChange(chosen.filter((x) => x.user_id !== m.user_id))}>×</button>
          </li>
        ))}
      </ul>
      <ul className="found" aria-label="People found">
        {found
          .filter((u) => !chosen.some((m) => m.user_id === u.user_id) && !exclude.includes(u.user_id))
          .map((u) => (
            <li key={u.user_id}>
              <button type="button" disabled={full} onClick={() => { onChange([...chosen, u]); setTerm(''); }}>
                Add {u.email}
              </button>
            </li>
          ))}
      </ul>
      <p className="muted">{chosen.length} of {max} people added.</p>
    </>
  );
}
