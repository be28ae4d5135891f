import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useLocation } from 'wouter';
import { api, problem } from '../../api/client';
import { Members } from './Members';

/** The chat's title, its members, and leaving or deleting it. */
export function ChatHeader({ chatId, title }: { chatId: string; title: string }) {
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

  return (
    <>
      <header className="chat-head">
        <h1>{title}</h1>
        <Members chatId={chatId} />
        <button className="button" type="button" onClick={leave}>Leave chat</button>
        <button className="button danger" type="button" onClick={remove}>Delete chat</button>
      </header>
      {error && <p className="error" role="alert">{error}</p>}
    </>
  );
}
