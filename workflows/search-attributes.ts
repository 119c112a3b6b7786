/** Typed search attributes of a task; registered on the dev server at start, upserted on every transition. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BatonStage = defineSearchAttributeKey('BatonStage', SearchAttributeType.KEYWORD);
export const BatonStatus = defineSearchAttributeKey('BatonStatus', SearchAttributeType.KEYWORD);
export const BatonPriority = defineSearchAttributeKey('BatonPriority', SearchAttributeType.KEYWORD);
export const BatonAgent = defineSearchAttributeKey('BatonAgent', SearchAttributeType.KEYWORD);

/** v2: the reported cost in US dollars, so the Web UI and `GET /tasks` filter and sort by it. */
export const BatonCostUsd = defineSearchAttributeKey('BatonCostUsd', SearchAttributeType.DOUBLE);
/** v2: the gate profile a task with a repository runs (`strict`, `standard`, `minimal`), or `skip`. */
export const BatonGates = defineSearchAttributeKey('BatonGates', SearchAttributeType.KEYWORD);

/**
 * v2: a hash of the task's normalised title and goal, set at start (api/task-admission.ts): a new task that
 * matches an open one is refused as a duplicate unless its spec says `allowDuplicate`.
 */
export const BatonFingerprint = defineSearchAttributeKey('BatonFingerprint', SearchAttributeType.KEYWORD);

/** Every search attribute Baton upserts: registered on the dev server at start (and on a cluster by setup). */
export const BATON_SEARCH_ATTRIBUTES = [BatonStage, BatonStatus, BatonPriority, BatonAgent, BatonCostUsd, BatonGates, BatonFingerprint];
