//! `/search TEXT [in TARGET]` and `/mentions`: questions to the store (its full-text
//! index and read marks), answered as [`Event::Search`] and [`Event::Mentions`].

use natter_protocol::RequestId;

use super::Core;
use super::storing::AfterRead;
use crate::node::api::{About, Event, FoundItem, NodeError, Target};
use crate::node::store::{self, Answer, Conversation, Found, Read};

impl Core {
    /// `/search`: the text is checked here (so a search that cannot be made is an error
    /// at once), then looked up in the store.
    pub(super) fn search(&mut self, req: Option<RequestId>, text: String, target: Option<Target>) {
        if let Err(why) = store::search_query(&text) {
            return self.fail(req, NodeError::BadCommand(why));
        }
        let conversation = match target.as_ref().map(|t| self.conversation_of(t)) {
            None => None,
            Some(Ok(conversation)) => Some(conversation),
            Some(Err(error)) => return self.fail(req, error),
        };
        let read = Read::Search {
            text: text.clone(),
            conversation,
            limit: store::MAX_FOUND,
        };
        let target = target.as_ref().map(About::from);
        self.read(read, AfterRead::Search { req, text, target });
    }

    /// `/mentions`.
    pub(super) fn mentions(&mut self, req: Option<RequestId>) {
        let read = Read::Mentions {
            name: self.name.clone(),
            limit: store::MAX_FOUND,
        };
        self.read(read, AfterRead::Mentions { req });
    }

    /// The store's answer to a search (`text`, in `target`) or to `/mentions` (`text`
    /// `None`).
    pub(super) fn found_read(
        &mut self,
        req: Option<RequestId>,
        search: Option<(String, Option<About>)>,
        result: Result<Answer, String>,
    ) {
        let found = match result {
            Ok(Answer::Found(found)) => found,
            Ok(_) => Vec::new(),
            Err(error) => return self.fail(req, NodeError::Store(error)),
        };
        let messages = found
            .into_iter()
            .filter_map(|f| self.found_item(f))
            .collect();
        let event = match search {
            Some((text, target)) => Event::Search {
                text,
                target,
                messages,
            },
            None => Event::Mentions { messages },
        };
        self.emit_for(req, event);
    }

    /// A finding as the front ends see it: its conversation by the name we would use for
    /// it now (else the one the store last saw).
    fn found_item(&self, found: Found) -> Option<FoundItem> {
        let (conversation, group) = match found.conversation {
            Conversation::Group(group) => (About::Group(group.clone()), Some(group)),
            Conversation::Peer(key) => {
                let name = self.dest_for_key(&key).map(|d| d.name).or(found.peer_name);
                let Some(name) = name else {
                    tracing::debug!(id = %found.id, "a found message of an unnamed peer");
                    return None;
                };
                (About::Peer(name), None)
            }
        };
        Some(FoundItem {
            id: found.id,
            from: found.from,
            conversation,
            group,
            sent_at: found.sent_at,
            text: found.text,
            snippet: found.snippet,
        })
    }
}
