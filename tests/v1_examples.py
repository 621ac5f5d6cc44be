"""Every documented example request of every TikMatrix script (tikmatrix-scripts.md §5), as data: the unit
test plans each one, the e2e conformance test sends each one to the local stack and reads what reached the
simulated host. Bodies are exactly as documented; `tasks` is the documented fan-out (devices or accounts x
targets), `targets` the per-task target each host submission must carry (follow/unfollow, comment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEV1 = ["device_serial_1"]
DEV1_3 = ["device_1", "device_2", "device_3"]
ACCOUNTS_2 = ["@my_account1", "@my_account2"]
# What a host must serve for these examples to run (the e2e test registers a channel with them).
EXAMPLE_DEVICES = ("device_serial_1", "device_serial_2", "device_1", "device_2", "device_3", "device_4", "device_5",
                   "16091FDD40050N")
EXAMPLE_ACCOUNTS = ("user1@device_serial_1", "user2@device_serial_1", "user3@device_serial_2",
                    "my_account1@device_1", "my_account2@device_2")
TT = "https://www.tiktok.com/@username/video/1234567890"
P1_CFG = {"content_type": 0, "captions": "Check out my new video! #viral #fyp",
          "material_list": ["C:/Videos/video1.mp4"], "upload_wait_time": 60}
COMMENTS = "Great video!\nAwesome!\nLove it!"
GPT = {"api_key": "your-api-key", "model": "gpt-3.5-turbo",
       "prompt": "Generate a short, friendly comment about this video"}
GPT_SAMPLE = {"api_key": "sk-your-openai-api-key", "model": "gpt-3.5-turbo",
              "prompt": "Generate a short, friendly comment about this video in English", "max_tokens": 50,
              "temperature": 0.8, "base_url": "https://api.openai.com/v1"}


@dataclass(frozen=True)
class Example:
    name: str
    body: dict[str, Any]
    tasks: int
    targets: tuple[str, ...] = ()  # one per task on each device/account, in order
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def script(self) -> str:
        return str(self.body["script_name"])


def _ex(name: str, script: str, config: dict[str, Any], *, serials: list[str] | None = None,
        usernames: list[str] | None = None, tasks: int | None = None, targets: tuple[str, ...] = (),
        **top: Any) -> Example:
    body: dict[str, Any] = {"serials": serials} if usernames is None else {"usernames": usernames}
    if serials is None and usernames is None:
        body = {"serials": DEV1}
    body.update({"script_name": script, "script_config": config, **top})
    places = len(body.get("serials") or body.get("usernames"))
    return Example(name, body, tasks if tasks is not None else places * max(1, len(targets)), targets)


EXAMPLES: list[Example] = [
    # post (DOCS post-script.md, task-management.md, local-api.md; TEST api-test.md)
    _ex("P1", "post", P1_CFG),
    _ex("P2", "post", {"content_type": 0, "captions": "Check out my new video! #viral #fyp", "post_way": "share",
                       "material_source": "materialLibrary", "materials_tags": "trending, dance",
                       "upload_wait_time": 60, "add_sound": "-1"},
        serials=["device_serial_1", "device_serial_2"], enable_multi_account=False),
    _ex("P3", "post", P1_CFG, usernames=["@user1", "@user2", "@user3"]),
    _ex("P4", "post", {"content_type": 0, "captions": "Amazing content! #instagram #reels", "post_way": "addButton",
                       "placement": "reel", "material_source": "localFolder", "material_path": "C:/Videos/instagram",
                       "upload_wait_time": 45}, serials=DEV1, enable_multi_account=True),
    _ex("P5", "post", {"content_type": 0, "captions": "Dancing to this trending sound!", "post_way": "share",
                       "add_sound": "custom", "custom_sound_keyword": "trending dance 2024",
                       "origin_sound_volume": 30, "add_sound_volume": 70, "material_source": "materialLibrary",
                       "upload_wait_time": 60}),
    _ex("P6", "post", {"post_way": "useSound", "sound_name": "https://www.tiktok.com/music/original-sound-7123456789",
                       "captions": "Using this awesome sound!", "material_source": "materialLibrary"}),
    _ex("P7", "post", {"content_type": 1, "image_count": 5, "captions": "Check out these photos! #photocarousel",
                       "material_source": "localFolder", "material_path": "C:/Images/carousel",
                       "upload_wait_time": 45}),
    _ex("Q", "post", {"content_type": 1, "captions": "Check out my new video! #viral"},
        serials=["device_serial_1", "device_serial_2"], enable_multi_account=False, start_time="14:30"),
    _ex("T-post", "post", {**P1_CFG, "captions": "测试视频 #测试"}, serials=["16091FDD40050N"]),
    # follow / unfollow (DOCS follow-script.md, unfollow-script.md, examples.md; TEST)
    _ex("F1", "follow", {"target_users": ["@username_to_follow"], "access_method": "direct"},
        targets=("@username_to_follow",)),
    _ex("F1-unfollow", "unfollow", {"target_users": ["@username_to_unfollow"], "access_method": "direct"},
        targets=("@username_to_unfollow",)),
    _ex("F2", "follow", {"target_users": ["@user1", "@user2", "@user3"], "access_method": "direct"},
        targets=("@user1", "@user2", "@user3")),
    _ex("F2-unfollow", "unfollow", {"target_users": ["@user1", "@user2", "@user3"], "access_method": "direct"},
        targets=("@user1", "@user2", "@user3")),
    _ex("F3", "follow", {"target_users": ["@user1", "@user2"], "access_method": "direct"},
        targets=("@user1", "@user2"), start_time="14:30"),
    _ex("F4", "follow", {"target_users": ["username1", "username2"], "access_method": "search"},
        targets=("username1", "username2")),
    _ex("F4-unfollow", "unfollow", {"target_users": ["username1", "username2"], "access_method": "search"},
        targets=("username1", "username2")),
    _ex("F5", "follow", {"target_users": ["@target_user"], "access_method": "direct"}, usernames=ACCOUNTS_2,
        targets=("@target_user",)),
    _ex("F6", "follow", {"target_users": ["@influencer_account"], "access_method": "direct"}, serials=DEV1_3,
        enable_multi_account=True, targets=("@influencer_account",)),
    _ex("F6-unfollow", "unfollow", {"target_users": ["@old_account"], "access_method": "direct"}, serials=DEV1_3,
        enable_multi_account=True, targets=("@old_account",)),
    _ex("E", "follow", {"target_username": "@tikmatrix"}, enable_multi_account=False, targets=("@tikmatrix",)),
    _ex("E-batch", "follow", {"target_username": "@target_user"},
        serials=[f"device_{i}" for i in range(1, 6)], enable_multi_account=True, targets=("@target_user",)),
    _ex("T-follow", "follow", {"target_users": ["@tikmatrix001"], "access_method": "direct"},
        serials=["16091FDD40050N"], targets=("@tikmatrix001",)),
    # the follow doc's string form: several names separated by newlines or commas
    _ex("F-text", "follow", {"target_user": "@user1\n@user2,@user3"}, targets=("@user1", "@user2", "@user3")),
    # comment (DOCS comment-script.md)
    _ex("C1", "comment", {"target_post_url": TT, "comment_content": "Great content! 🔥"}, targets=(TT,)),
    _ex("C2", "comment", {"target_post_url": TT, "comment_content":
                          "Amazing video!\nLove this content!\nKeep it up! 👏\nThis is so good!",
                          "comment_order": "random"}, targets=(TT,)),
    _ex("C3", "comment", {"target_post_urls": [f"https://www.tiktok.com/@user{i}/video/{i}{i}{i}" for i in (1, 2, 3)],
                          "comment_content": COMMENTS, "comment_order": "sequential"},
        targets=tuple(f"https://www.tiktok.com/@user{i}/video/{i}{i}{i}" for i in (1, 2, 3))),
    _ex("C4", "comment", {"target_post_url": TT, "comment_content": "Scheduled comment!"}, targets=(TT,),
        start_time="14:30"),
    _ex("C5", "comment", {"target_post_url": TT, "comment_content": "This is amazing", "insert_emoji": True},
        targets=(TT,)),
    _ex("C6", "comment", {"target_post_url": "https://www.tiktok.com/@target/video/123",
                          "comment_content": "Nice video!"}, usernames=ACCOUNTS_2,
        targets=("https://www.tiktok.com/@target/video/123",)),
    _ex("C7", "comment", {"target_post_url": "https://www.tiktok.com/@viral/video/999",
                          "comment_content": "Great content!\nAmazing work!\nLove this!", "comment_order": "random"},
        serials=DEV1_3, enable_multi_account=True, targets=("https://www.tiktok.com/@viral/video/999",)),
    _ex("C8", "comment", {"target_post_url": "https://www.instagram.com/p/ABC123/",
                          "comment_content": "Beautiful photo! 📸", "insert_emoji": True},
        targets=("https://www.instagram.com/p/ABC123/",)),
    _ex("C9", "comment", {"target_post_url": TT, "comment_content": "Check out this image!",
                          "comment_image_path": "C:/images/my_image.jpg"}, targets=(TT,)),
    # account_warmup (DOCS account-warmup-script.md)
    _ex("W1", "account_warmup", {"task_duration": 600, "min_duration": 10, "max_duration": 30}),
    _ex("W2", "account_warmup", {"task_duration": 900, "topic": "funny cats\ndog videos\npet compilation",
                                 "min_duration": 15, "max_duration": 45}),
    _ex("W3", "account_warmup", {"task_duration": 1200, "topic": "cooking\nrecipes\nfood", "min_duration": 20,
                                 "max_duration": 60, "like_probable": 30, "floow_probable": 10,
                                 "collect_probable": 5, "comment_probable": 15,
                                 "comment": "This is amazing! 🔥\nLove this content!\nSo good! 👏\nWow, incredible!",
                                 "insert_emoji": True, "comment_order": "random"}),
    _ex("W4", "account_warmup", {"task_duration": 1800, "topic": "tech reviews\ngadgets", "min_duration": 30,
                                 "max_duration": 90, "like_probable": 25, "comment_probable": 20,
                                 "generate_by_chatgpt": True, "chatgpt_settings": GPT}),
    _ex("W4-settings", "account_warmup", {"generate_by_chatgpt": True, "chatgpt_settings": GPT_SAMPLE}),
    _ex("W5", "account_warmup", {"task_duration": 600, "min_duration": 15, "max_duration": 30, "like_probable": 20},
        serials=DEV1_3, enable_multi_account=True),
    _ex("W6", "account_warmup", {"task_duration": 1200, "topic": "music\ndance\ntrending", "min_duration": 20,
                                 "max_duration": 40, "like_probable": 15, "floow_probable": 5}, start_time="09:00"),
    _ex("W7", "account_warmup", {"task_duration": 600, "min_duration": 15, "max_duration": 30, "like_probable": 20,
                                 "floow_probable": 5}, usernames=ACCOUNTS_2),
    # login / profile / match_accounts (DOCS-NEW, unmerged branch)
    _ex("L1", "login", {}),
    _ex("L2", "login", {}, serials=DEV1_3),
    _ex("L3", "login", {}, usernames=ACCOUNTS_2),
    _ex("L4", "login", {}, start_time="09:00"),
    _ex("R1", "profile", {"nicknames": "CoolUser123\nAwesomeCreator", "bios": "Content creator\nLiving my best life",
                          "profile_order": "random"}),
    _ex("R2", "profile", {"nicknames": "MyBrand Official", "usernames": "mybrand_official",
                          "bios": "Official account\nFollow for updates!", "link_url": "https://example.com",
                          "avatars_path": "C:/Users/Admin/Desktop/avatars", "profile_order": "random"}),
    _ex("R3", "profile", {"nicknames": "User One\nUser Two\nUser Three", "usernames": "user_one\nuser_two\nuser_three",
                          "bios": "Bio for user one\nBio for user two\nBio for user three",
                          "avatars_path": "C:/Users/Admin/Desktop/avatars", "profile_order": "sequential"},
        serials=DEV1_3, enable_multi_account=True),
    _ex("R4", "profile", {"nicknames": "Account One\nAccount Two",
                          "bios": "Welcome to my page!\nCheck out my content!", "profile_order": "sequential"},
        usernames=ACCOUNTS_2),
    _ex("R5", "profile", {"nicknames": "Updated Name", "bios": "Updated bio with link\nFollow me!",
                          "link_url": "https://example.com"}, start_time="10:00"),
    _ex("M1", "match_accounts", {}),
    _ex("M2", "match_accounts", {}, serials=DEV1_3),
    _ex("M3", "match_accounts", {}, start_time="08:00"),
    # the desktop UI's forms: numbers as strings, the top-level intervals (minutes)
    _ex("UI-post", "post", {"content_type": "0", "add_sound": "1", "add_product_link": "1", "upload_wait_time": "90",
                            "material_list": ["C:/Videos/a.mp4"], "ai_label": True}, min_interval=1, max_interval=5),
]

TARGET_KEYS = {"follow": ("target_users", "target_user", "target_username"),
               "unfollow": ("target_users", "target_user", "target_username"),
               "comment": ("target_post_urls", "target_post_url")}
TARGET_ARRAY = {"follow": "target_users", "unfollow": "target_users", "comment": "target_post_urls"}
FORCED_MULTI = {"login": True, "match_accounts": False}
NUMERIC_STRINGS = {"content_type", "add_product_link", "upload_wait_time"}  # the UI example sends these as strings


def expected_host_config(example: Example, target: str | None) -> dict[str, Any]:
    """The documented fields the host must receive for one task of `example`, with their values."""
    config = dict(example.body["script_config"])
    for key in TARGET_KEYS.get(example.script, ()):
        config.pop(key, None)
    for key in NUMERIC_STRINGS & set(config):
        if isinstance(config[key], str):
            config[key] = int(config[key])
    if target is not None:
        config[TARGET_ARRAY[example.script]] = [target]
    return config


def expected_multi(example: Example) -> bool:
    if "usernames" in example.body:
        return False  # no effect in username mode (§4), even for login's forced value
    if example.script in FORCED_MULTI:
        return FORCED_MULTI[example.script]
    return bool(example.body.get("enable_multi_account")) and "usernames" not in example.body
