// Issue 23's API shapes (message changes, reactions, replies), written by
// hand from app/src/domain/{change,message}.rs and the contract
// until docs/openapi.json documents them. Everything the app needs of them
// goes through this file: switching to the generated types is one edit here.
import createClient from 'openapi-fetch';
import { sessionFetch, type Schemas } from './client';

/** Who reacted with one emoji; its count is the number of users. */
export interface Reaction {
  emoji: string;
  user_ids: string[];
}

/** The quoted message of a reply, kept current (an edit changes the
 *  excerpt, a deletion empties it). */
export interface ReplyTo {
  ulid: string;
  user_id: string;
  /** The author's username when the reply was sent. */
  username?: string | null;
  excerpt: string;
  deleted?: boolean;
}

/** A message as the API returns it and `chat:<id>` publishes it. */
export type Message = Schemas['ChatMessageResponse'] & {
  edited_at?: string | null;
  deleted?: boolean;
  reply_to?: ReplyTo | null;
  reactions?: Reaction[];
};

/** A chat in my list; `created_by` (who may delete anyone's message in it)
 *  when the API says. */
export type ChatItem = Schemas['ChatItem'] & { created_by?: string | null };

/** One change to a sent message, as logged and as published on `chat:<id>`
 *  (flat, tagged by `type`). */
export type MessageChange = (
  | { type: 'message_edited'; content: string }
  | { type: 'message_deleted' }
  | { type: 'reaction_added'; emoji: string }
  | { type: 'reaction_removed'; emoji: string }
) & {
  chat_id: string;
  /** The message changed. */
  ulid: string;
  /** This change's own id (a ULID). */
  change_id: string;
  client_uuid?: string | null;
  /** Who made the change. */
  user_id: string;
  timestamp: string;
};

type ErrorBody = Schemas['ErrorBody'];
type Answer<T, Status extends number> = {
  [S in Status]: { headers: { [name: string]: unknown }; content: { 'application/json': T } };
};
type Refusals = Answer<ErrorBody, 401 | 403 | 404 | 409 | 422>;
type MessagePath = { chat_id: string; ulid: string };
type ReactionPath = MessagePath & { emoji: string };
type Operation<Path> = {
  parameters: { query?: { client_uuid?: string }; header?: never; path: Path; cookie?: never };
  requestBody?: never;
  responses: Answer<MessageChange, 200> & Refusals;
};
type WithBody<Path, Body> = Omit<Operation<Path>, 'requestBody'> & {
  requestBody: { content: { 'application/json': Body } };
};

/** The routes of the contract, as openapi-fetch reads them. */
interface Paths {
  '/api/v1/chats/{chat_id}': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    post: {
      parameters: { query?: never; header?: never; path: { chat_id: string }; cookie?: never };
      requestBody: {
        content: { 'application/json': Schemas['SendBody'] & { reply_to?: string | null } };
      };
      responses: Answer<Schemas['ChatMessage'] & Omit<Message, 'author_metadata'>, 201> & Refusals;
    };
  };
  '/api/v1/chats/{chat_id}/messages/{ulid}': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    patch: WithBody<MessagePath, { content: string; client_uuid?: string | null }>;
    delete: Operation<MessagePath>;
  };
  '/api/v1/chats/{chat_id}/messages/{ulid}/reactions/{emoji}': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    put: Operation<ReactionPath>;
    delete: Operation<ReactionPath>;
  };
}

/** The client for those routes (the session's cookies, CSRF header and refresh). */
export const messagesApi = createClient<Paths>({ baseUrl: location.origin, fetch: sessionFetch, credentials: 'same-origin' });
