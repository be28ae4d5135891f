import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useLocation } from 'wouter';
import { api, problem } from '../../api/client';
import { LEVELS, type Level } from '../../notify';
import type { Online } from '../../presence';
import { setLevel } from '../Chats';
import { Members } from './Members';

/** The chat's title, who is online, its members, which of its messages
 *  notify me, and leaving or deleting it. */
export function ChatHeader({
  chatId,
  title,
  online,
  notifications,
}: {
  chatId: string;
  title: string;
  /** Who is online. */
  online: Online;
  notifications?: Level;
}) {
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const [error, setError] = useState('');

  async function leave() {
    if (!confirm('Leave this chat? You will stop seeing its messages.')) return;
    const { error } = await api.POST('/api/v1/chats/{chat_id}/leave', { params: { path: { chat_id: chatId } } });
    if (error) return setError(problem(error));
    await client.invalidateQueries({ queryKey: ['chats'] });
    navigate('/chats');
  }

  async function remove() {
    if (!confirm('Delete this chat for everyone? Its messages are deleted too.')) return;
    const { error } = await api.DELETE('/api/v1/chats/{chat_id}', { params: { path: { chat_id: chatId } } });
    if (error) return setError(problem(error));
    await client.invalidateQueries({ queryKey: ['chats'] });
    navigate('/chats');
  }

  async function choose(level: Level) {
    const before = notifications;
    setLevel(client, chatId, level);
    const answer = await api
      .PUT('/api/v1/chats/{chat_id}/notifications', { params: { path: { chat_id: chatId } }, body: { notifications: level } })
      .catch(() => null);
    if (answer?.data) return setError('');
    if (before) setLevel(client, chatId, before);
    setError(`Could not change the notifications: ${problem(answer?.error, 'the server could not be reached; try again.')}`);
  }

  return (
    <>
      <header className="chat-head">
        <h1>{title}</h1>
        {online.count !== null && <span className="online-count">{online.count} online</span>}
        <label className="notify-level">
          <span className="visually-hidden">Notifications for this chat</span>
          <select value={notifications ?? 'mentions'} disabled={!notifications} onChange={(e) => void choose(e.target.value as Level)}>
            {LEVELS.map((level) => (
              <option key={level.value} value={level.value}>{level.label}</option>
            ))}
          </select>
        </label>
        <Members chatId={chatId} online={online.people} />
        <button className="button" type="button" onClick={leave}>Leave chat</button>
        <button className="button danger" type="button" onClick={remove}>Delete chat</button>
      </header>
      {error && <p className="error" role="alert">{error}</p>}
    </>
  );
}
