"""The editor's status messages: the URL carries a code, the text is the app's own."""

from __future__ import annotations

import enum

from digest.i18n import N_, translations


class Notice(enum.StrEnum):
    """What an editor's action did, as the code in `?notice=`."""

    TEST_SENT = "test-sent"
    TEST_REFUSED = "test-refused"
    TEST_NO_VARIANT = "test-no-variant"
    APPROVED = "approved"
    NOT_APPROVED_TRANSLATIONS = "not-approved-translations"
    NOT_APPROVED = "not-approved"
    NOT_APPROVED_EMPTY = "not-approved-empty"
    NOT_APPROVED_WITHDRAWN = "not-approved-withdrawn"
    CANCELLED = "cancelled"
    NOT_CANCELLED = "not-cancelled"
    REOPENED = "reopened"
    NOT_REOPENED = "not-reopened"
    REPLANNED = "replanned"
    NOT_REPLANNED = "not-replanned"
    NOT_REPLANNED_NOTHING_NEW = "not-replanned-nothing-new"
    SENDING = "sending"
    NOT_SENT = "not-sent"
    NOT_SENT_SETTINGS = "not-sent-settings"
    NOT_SENT_WITHDRAWN = "not-sent-withdrawn"
    LINKS_CHECKED = "links-checked"
    LINKS_NOT_CHECKED = "links-not-checked"
    REASON_REFUSED = "reason-refused"


TEXTS: dict[Notice, str] = {
    Notice.TEST_SENT: N_("Test sent. The relay's answer is in the history below."),
    Notice.TEST_REFUSED: N_("Not sent: the test address must be one email address, with no "
                            "line breaks."),
    Notice.TEST_NO_VARIANT: N_("Not sent: a test needs one of this issue's variants (Welsh, "
                               "English or bilingual), and none was chosen or the issue has "
                               "none."),
    Notice.APPROVED: N_("Approved. The issue can now be sent."),
    Notice.NOT_APPROVED_TRANSLATIONS: N_("Not approved: the translation check fails. Fix the "
                                         "problems, or give a reason to approve anyway."),
    Notice.NOT_APPROVED: N_("Not approved: only a draft can be approved."),
    Notice.NOT_APPROVED_EMPTY: N_("Not approved: the issue has no items. Replan it when there is "
                                  "something new, or cancel it."),
    Notice.NOT_APPROVED_WITHDRAWN: N_("Not approved: the issue carries a withdrawn item (see "
                                      "Checks). Replan it to drop it."),
    Notice.CANCELLED: N_("Cancelled."),
    Notice.NOT_CANCELLED: N_("Not cancelled: only a draft or an approved issue can be "
                             "cancelled."),
    Notice.REOPENED: N_("Reopened: the issue is a draft again. Replan it and approve it to "
                        "send it."),
    Notice.NOT_REOPENED: N_("Not reopened: only an approved issue can be reopened."),
    Notice.REPLANNED: N_("Replanned: the items were chosen again as of now."),
    Notice.NOT_REPLANNED: N_("Not replanned: only a draft can be replanned, and only during "
                             "its own month."),
    Notice.NOT_REPLANNED_NOTHING_NEW: N_("Not replanned: nothing new would be chosen as of now, "
                                         "so the issue is unchanged."),
    Notice.SENDING: N_("Sending started. Progress shows on the list of issues."),
    Notice.NOT_SENT: N_("Not sent: only an approved issue can be sent."),
    Notice.NOT_SENT_SETTINGS: N_("Not sent: a setting the send needs cannot be used (the "
                                 "server's log, or the command digest issue send --dry-run, "
                                 "says which). Nothing was changed."),
    Notice.NOT_SENT_WITHDRAWN: N_("Not sent: the issue carries a withdrawn item (see Checks). "
                                  "Reopen it, replan it and approve it again, or cancel it."),
    Notice.LINKS_CHECKED: N_("Links checked: what each one answered is under Checks."),
    Notice.LINKS_NOT_CHECKED: N_("Links not checked: an issue that is sending or sent keeps "
                                 "its checks as they were when sending started."),
    Notice.REASON_REFUSED: N_("Not done: the reason must be one line of 1 to 500 characters, "
                              "with no line breaks or hidden characters."),
}


def notice_text(code: str | None, lang: str) -> str | None:
    """The message for a code in `lang`; None for no code or one the app does not know."""
    try:
        notice = Notice(code or "")
    except ValueError:
        return None
    return translations(lang).gettext(TEXTS[notice])
