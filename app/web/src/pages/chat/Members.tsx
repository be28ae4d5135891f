import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { api, problem, type User } from '../../api/client';
import { Avatar } from '../Avatar';
import { PeoplePicker } from '../People';

/** The chat's members (the dialog, and names for who reacted). */
export function useMembers(chatId: string) {
  return useQuery({
    queryKey: ['members', chatId],
    queryFn: async () => {
      const { data, error } = await api.GET('/api/v1/chats/{chat_id}/members', { params: { path: { chat_id: chatId } } });
      if (error) throw new Error(problem(error));
      return data.members;
    },
  });
}

/** The members dialog: who is in the chat and online, and adding people to it. */
export function Members({ chatId, online }: { chatId: string; online: string[] | null }) {
  const client = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [adding, setAdding] = useState<User[]>([]);
  const [error, setError] = useState('');
  const members = useMembers(chatId);

  async function add() {
    const { error } = await api.POST('/api/v1/chats/{chat_id}/members', {
      params: { path: { chat_id: chatId } },
      body: { user_id_list: adding.map((u) => u.user_id) },
    });
    if (error) return setError(problem(error));
    setAdding([]);
    setError('');
    await client.invalidateQueries({ queryKey: ['members', chatId] });
  }

  return (
    <>
      <button className="button" type="button" onClick={() => { void members.refetch(); dialog.current?.showModal(); }}>
        Members
      </button>
      <dialog ref={dialog} className="card" aria-labelledby={`members-${chatId}`}>
        <div className="stack">
          <h2 id={`members-${chatId}`}>Members</h2>
          <ul className="member-list" aria-label="Members of this chat">
            {members.data?.map((m) => (
              <li key={m.user_id}>
                <Avatar id={m.user_id} name={m.meta.username} /> {m.meta.username} <span className="muted">{m.email}</span>
                {online?.includes(m.user_id) && <span className="presence">online</span>}
              </li>
            ))}
          </ul>
          <PeoplePicker chosen={adding} onChange={setAdding} max={10} exclude={members.data?.map((m) => m.user_id)} />
          {error && <p className="error" role="alert">{error}</p>}
          <div className="actions">
            <button className="button" type="button" onClick={() => dialog.current?.close()}>Close</button>
            <button className="button primary" type="button" disabled={adding.length === 0} onClick={() => void add()}>
              Add to chat
            </button>
          </div>
        </div>
      </dialog>
    </>
  );
}
