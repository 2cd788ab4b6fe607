"""Vocabulary the generator draws from: names, phrases and the open enums seen on the server.

Kept apart from the generator so the shapes of documents read without a wall of strings.
A few names carry non-ASCII letters on purpose: the sync must keep them intact.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Meera", "Arjun", "Kavya", "Sanjay",
    "Neha", "Rahul", "Isha", "John", "Maria", "Zoë", "Renée", "José", "Chloé", "Liam",
    "Fatima", "Omar", "Wei", "Yuki", "Sofia",
)  # fmt: skip
LAST_NAMES = (
    "Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Khan", "Singh", "Mehta", "Das",
    "Smith", "García", "Müller", "Okafor", "Chen", "Tanaka", "Rossi", "Novak",
)  # fmt: skip
CITIES = (
    ("Mumbai", "MH", "India", "Asia/Kolkata", "400001", 19.07, 72.87),
    ("Bengaluru", "KA", "India", "Asia/Kolkata", "560001", 12.97, 77.59),
    ("Delhi", "DL", "India", "Asia/Kolkata", "110001", 28.61, 77.20),
    ("Austin", "TX", "United States", "America/Chicago", "73301", 30.27, -97.74),
    ("London", "ENG", "United Kingdom", "Europe/London", "EC1A", 51.51, -0.13),
)

AGENT_ADJECTIVES = (
    "sunny", "swift", "calm", "bright", "loyal", "clever", "steady", "gentle", "bold", "quiet",
)  # fmt: skip
AGENT_NOUNS = (
    "sales", "support", "renewal", "survey", "booking", "collections", "onboarding", "feedback",
)  # fmt: skip
AGENT_TYPES = ("Voice", "Voice", "Voice", "AI", "LLM", "Pilot", "Message", "Tool", "Connector")
AGENT_PURPOSES = (
    "Qualify inbound leads and book demos",
    "Remind customers of upcoming renewals",
    "Collect feedback after a service visit",
    "",
)

OBJECTIVES = (
    "Call the lead and confirm interest in the premium plan",
    "Remind the customer about the pending invoice",
    "Book a site visit for next week",
    "Collect a satisfaction score for the last order",
)
LABELS = ("hot-lead", "renewal", "vip", "callback", "campaign-q1", "imported")
QUALITIES = ("high", "medium", "low", "")

ASSISTANT_LINES = (
    "Hello, this is {agent} calling from Acme. Am I speaking with {name}?",
    "I'm calling about your recent enquiry. Do you have a minute?",
    "We have a new plan that could save you about twenty percent.",
    "Would you like me to send the details by email?",
    "Could you tell me a good time for a follow-up call?",
    "Thank you for your time, {name}. Have a great day!",
    "Sure, I can help with that.",
    "Just to confirm, your number is {phone}?",
    "I understand. Is there anything else I can help you with?",
    "Great, I've noted that down.",
)
USER_LINES = (
    "Yes, speaking.",
    "Who is this?",
    "I'm a bit busy right now.",
    "Sure, go ahead.",
    "How much does it cost?",
    "Please send me the details.",
    "Call me back tomorrow after 5 pm.",
    "Not interested, thanks.",
    "Okay, that sounds good.",
    "Can you repeat that?",
    "हाँ, बोलिए।",
)

# Roles seen in transcripts. The first pair is what current records use.
ROLE_PAIRS = (
    ("assistant", "user"),
    ("assistant", "user"),
    ("assistant", "user"),
    ("assistant", "user"),
    ("assistant", "user"),
    ("agent", "customer"),
    ("AI", "User"),
)

END_REASONS = (
    "customer-ended-call",
    "assistant-ended-call",
    "Customer Ended The Call",
    "Agent Ended The Call",
    "silence-timed-out",
    "voicemail",
    "customer-did-not-answer",
    "customer-busy",
)
CALL_STATUSES = ("connected", "completed", "completed", "notConnected", "busy", "voicemail")
OUTBOUND_TYPES = ("outbound", "outbound", "outboundPhoneCall", "sdk", "")
INBOUND_TYPES = ("inbound", "inbound", "inboundPhoneCall")
SUMMARY_STATUSES = (
    "Interested", "Call Back", "Not Interested", "Send Details", "Not Connected", "Abandoned",
    "Dropped",
)  # fmt: skip
PROVIDERS = ("vapi", "pipecat", "livekit", "livekit", "NA")
EXECUTION_TYPES_CALL = ("call", "call", "call", "sdk_call", "space_call")
EXTRA_FIELDS = (
    ("priority", 3),
    ("source", "csv_import"),
    ("campaign", {"id": "cmp_42", "name": "Q1 renewals"}),
    ("dnd", False),
)
