"""The pieces of the single data-modifying CTE that records a decided turn.

Writing everything in one statement keeps a decision to one round trip and one implicit
transaction (DESIGN principle 6): the conversation row lock orders concurrent turns of one
conversation, and the unique idempotency index rejects a concurrent retry.
"""

from functools import cache

from service.db import Statement

CONVERSATION = """conv AS (
  INSERT INTO conversation (channel, external_id, customer_id, handled_by, turn_count, last_turn_at)
  VALUES (:channel, :conversation, :customer, :handler, 1, now())
  ON CONFLICT (channel, external_id) DO UPDATE SET turn_count = conversation.turn_count + 1,
    last_turn_at = now(), handled_by = EXCLUDED.handled_by
  -- The owner the decision assumed must still be the owner once the row is locked (a person
  -- took it, or handed it back, meanwhile): if not, nothing is written and the turn is decided
  -- again on fresh facts.
  WHERE (conversation.handled_by = 'human') = CAST(:owned AS boolean)
  RETURNING id, turn_count)"""

TURN = """new_turn AS (
  INSERT INTO turn (id, conversation_id, channel, seq, idempotency_key, request_hash, message,
                    draft_text, confidence, intent, topics, sentiment, scores, locale, metadata)
  SELECT :turn_id, conv.id, :channel, conv.turn_count, :key, :request_hash, :message, :draft,
         :confidence,
         :intent, CAST(:topics AS varchar[]), :sentiment, CAST(:scores AS jsonb), :locale,
         CAST(:metadata AS jsonb)
  FROM conv RETURNING id, conversation_id)"""

# A newer turn makes any draft still waiting in this conversation obsolete.
SUPERSEDE = """superseded AS (
  UPDATE review SET status = 'superseded', decided_at = now(),
    lease_until = NULL
  FROM conv WHERE review.conversation_id = conv.id AND review.status IN ('pending', 'claimed')
  RETURNING review.id, review.team)"""

REVIEW = """new_review AS (
  INSERT INTO review (id, turn_id, conversation_id, channel, team, status, priority, deadline,
                      draft_text)
  SELECT :review_id, new_turn.id, new_turn.conversation_id, :channel, :team, 'pending', :priority,
         now() + make_interval(secs => :budget), :draft
  FROM new_turn RETURNING id, deadline)"""

TRANSFER = """new_transfer AS (
  INSERT INTO transfer (id, conversation_id, turn_id, channel, mode, team, reason, status, summary,
                        triggers, priority)
  SELECT :transfer_id, new_turn.conversation_id, new_turn.id, :channel, :mode, :team, :reason,
         'created', CAST(:summary AS jsonb), CAST(:triggers AS jsonb), :priority
  FROM new_turn RETURNING id)"""

# While a person has the conversation: the customer's message joins their transfer, with the
# AI's draft kept for the person (never sent), and a person at risk moves it up the queue.
OWNED_MESSAGE = """new_message AS (
  INSERT INTO transfer_message (transfer_id, sender, text, turn_id, draft_text, triggers)
  SELECT :transfer_id, 'customer', :message, new_turn.id, :draft, CAST(:triggers AS jsonb)
  FROM new_turn RETURNING id)"""

OWNED_PRIORITY = """raised AS (
  UPDATE transfer SET priority = :priority
  FROM new_turn WHERE transfer.id = :transfer_id AND transfer.priority < :priority
  RETURNING transfer.id)"""

# The transfer's place in its team's queue while it waits (transfer_wait, migration 0006).
PLACE = """place AS (
  SELECT jsonb_build_object(
    'queue_position', w.queue_position, 'estimated_wait_seconds', w.estimated_wait_seconds,
    'wait_reason', CASE WHEN w.online = 0 THEN 'nobody of team ' || CAST(:team AS text)
                                               || ' is online' END) AS value
  FROM new_turn, transfer_wait(CAST(:team AS text), CAST(:priority AS integer),
                               COALESCE(CAST(:created_at AS timestamptz), now()),
                               CAST(:transfer_id AS uuid)) w
  WHERE CAST(:waiting AS boolean))"""

TRANSFER_OUTBOX = """new_outbox AS (
  INSERT INTO outbox_event (id, dedupe_key, channel, event_type, payload, status)
  SELECT :outbox_id, :outbox_key, :channel, 'transfer.created', CAST(:outbox_payload AS jsonb),
         'pending'
  FROM new_transfer RETURNING id)"""

TRANSFER_EVENT = """new_transfer_event AS (
  INSERT INTO transfer_event (transfer_id, actor, status, detail)
  SELECT new_transfer.id, :transfer_actor, 'created', jsonb_build_object('reason', CAST(:reason AS text))
  FROM new_transfer)"""

AUDIT = """audit AS (
  INSERT INTO audit_event (actor, kind, subject_type, subject_id, data)
  SELECT 'channel:' || :channel, 'turn.decided', 'turn', new_turn.id::text,
         jsonb_build_object('action', CAST(:action AS text), 'rules', CAST(:rule_ids AS varchar[]),
                            'policy_version', CAST(:version AS text))
  FROM new_turn)"""


def decision(with_review: bool, with_place: bool) -> str:
    # The stored answer carries what only the database knows: the review's deadline (its
    # clock), the transfer's place in the queue (the other transfers).
    response, sources = "CAST(:response AS jsonb)", "new_turn"
    if with_review:
        response = f"jsonb_set({response}, '{{review,deadline}}', to_jsonb(new_review.deadline))"
        sources = "new_turn, new_review"
    if with_place:
        response = (
            f"jsonb_set({response}, '{{transfer}}', ({response})->'transfer' "
            "|| COALESCE((SELECT value FROM place), '{}'::jsonb))"
        )
    return f"""new_decision AS (
  INSERT INTO decision (id, turn_id, action, triggers, rule_ids, policy_version, response, shadow,
                        owned)
  SELECT :decision_id, new_turn.id, :action, CAST(:triggers AS jsonb), CAST(:rule_ids AS varchar[]),
         :version, {response}, CAST(:shadow AS jsonb), CAST(:owned AS boolean)
  FROM {sources}
  RETURNING response)"""


def result(with_review: bool) -> str:
    deadline = "(SELECT deadline FROM new_review)" if with_review else "NULL::timestamptz"
    return f"""SELECT (SELECT response FROM new_decision) AS response, {deadline} AS deadline,
  (SELECT array_agg(id) FROM superseded) AS superseded_ids,
  (SELECT array_agg(team) FROM superseded) AS superseded_teams"""


@cache
def compose(review: bool, transfer: bool, owned: bool = False) -> Statement:
    """One of the shapes of the statement (send, review, a new transfer, or a turn of a
    conversation a person has), compiled once per process."""
    parts = [CONVERSATION, TURN, SUPERSEDE]
    if owned:
        parts += [OWNED_MESSAGE, OWNED_PRIORITY, PLACE]
    elif review:
        parts.append(REVIEW)
    elif transfer:
        parts += [TRANSFER, TRANSFER_EVENT, TRANSFER_OUTBOX, PLACE]
    parts += [decision(with_review=review, with_place=transfer or owned), AUDIT]
    return Statement("WITH " + ",\n".join(parts) + "\n" + result(with_review=review))
