/**
 * Custom search attributes: what makes sessions, steps and pods findable in the Temporal Web UI
 * (e.g. `SessionStatus = "active"`). They must be registered on the server first: temporal-dev.sh
 * registers exactly these; for a real cluster run `temporal operator search-attribute create`.
 * Shared by workflow code and the client, so this module imports only `@temporalio/common`.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SessionIdKey = defineSearchAttributeKey('SessionId', SearchAttributeType.KEYWORD);
export const SessionStatusKey = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
export const EntryTypeKey = defineSearchAttributeKey('EntryType', SearchAttributeType.KEYWORD);
export const StepIdKey = defineSearchAttributeKey('StepId', SearchAttributeType.KEYWORD);
export const StepStatusKey = defineSearchAttributeKey('StepStatus', SearchAttributeType.KEYWORD);
export const PodStateKey = defineSearchAttributeKey('PodState', SearchAttributeType.KEYWORD);

/** Every custom key, for registration (tests, production set-up). */
export const ALL_SEARCH_ATTRIBUTE_KEYS = [SessionIdKey, SessionStatusKey, EntryTypeKey, StepIdKey, StepStatusKey, PodStateKey];
