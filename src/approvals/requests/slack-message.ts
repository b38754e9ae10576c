import type { ApprovalRequest } from '../types.js'

/** Most grants a Slack message lists one by one (the approval page shows them all). */
const MAX_GRANT_LINES = 10
/** Slack's limit on a section block's text. */
const MAX_SECTION_CHARS = 3000

/**
 * Text as Slack shows it literally: `&`, `<` and `>` are the only characters Slack's mrkdwn
 * gives meaning to as markup (links, mentions such as `<!channel>`), so escaping them keeps
 * request data from becoming a link or a mention.
 */
const slackText = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** What one Slack incoming-webhook message about an approval request says. */
export interface SlackMessageInput {
  request: ApprovalRequest
  /** The approver group announced to. */
  group: string
  /** Approvals its rules need from the group. */
  approversNeeded: number
  /** The request's approval page. */
  approvalUri: string
}

/**
 * A Slack incoming-webhook message (`{text, blocks}`) announcing one approval request: the
 * summary (client, task, purpose, requester, grants, expiry) and a button to the approval page.
 * `text` is the notification's fallback. Request data is escaped ({@link slackText}), so a purpose
 * cannot add a link, a mention or another button; the approval page stays what approvers decide on.
 */
export function slackMessage(input: SlackMessageInput): { text: string; blocks: unknown[] } {
  const { request, group, approversNeeded, approvalUri } = input
  const { task, grants } = request.manifest
  const grantLines = grants.slice(0, MAX_GRANT_LINES).map((g) => {
    const parts = [g.type, (g.actions ?? []).join(', '), (g.locations ?? []).join(', '), g.identifier ?? '']
    return `• ${slackText(parts.filter((p) => p !== '').join(' · '))}`
  })
  if (grants.length > MAX_GRANT_LINES) grantLines.push(`• …and ${grants.length - MAX_GRANT_LINES} more`)
  const expires = new Date(request.expiresAt * 1000).toISOString()
  const summary = [
    `*Approval needed* from ${slackText(group)} (${approversNeeded} ${approversNeeded === 1 ? 'approver' : 'approvers'})`,
    `*Client:* ${slackText(request.clientId)}`,
    `*Task:* ${slackText(task.id)}${task.purpose !== undefined ? ` — ${slackText(task.purpose)}` : ''}`,
    ...(task.requested_by !== undefined ? [`*Requested by:* ${slackText(task.requested_by)}`] : []),
    `*Grants:*`,
    ...grantLines,
    `*Expires:* ${expires}`,
  ].join('\n')
  const text = `Approval needed: ${slackText(request.clientId)} asks for ${grants.length} ${
    grants.length === 1 ? 'grant' : 'grants'
  } for task ${slackText(task.id)}. Review and decide: ${approvalUri}`
  return {
    text: clip(text, MAX_SECTION_CHARS),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(summary, MAX_SECTION_CHARS) } },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Review and decide' },
            url: approvalUri,
            style: 'primary',
          },
        ],
      },
    ],
  }
}
