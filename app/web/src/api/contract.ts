// The API shapes of message changes, reactions and replies, as the
// OpenAPI document describes them; the app takes them from here.
import type { Schemas } from './client';

export type Reaction = Schemas['Reaction'];
export type ReplyTo = Schemas['ReplyTo'];
/** One change to a sent message, as logged and as published on `chat:<id>`
 *  (flat, tagged by `type`). */
export type MessageChange = Schemas['MessageChange'];
/** What a person does to a message: a change without its ids. */
export type Action = Schemas['Change'];

/** A chat in my list; its creator (`created_by`) is offered Delete on
 *  every message. */
export type ChatItem = Schemas['ChatItem'];
